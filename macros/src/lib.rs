//! `#[table_keys]`: the half of watchpost's `config::table!` that a
//! `macro_rules!` macro cannot write. serde takes a key's own default as a
//! function path *in a string* (`#[serde(default = "Table::default_fps")]`),
//! and `macro_rules!` cannot build a string from names; this attribute can.
//!
//! `config::table!` puts it on the struct it declares and marks each field
//! with `#[key_default]` (the type's `Default`) or `#[key_default(expr)]`
//! (the declared default); a field written with `#[required]` has none.
//! From those marks it writes:
//! - a table with no required key: serde's container `default` and the
//!   table's `Default` (every key filled in from the declaration); given
//!   its checked struct's name (`#[table_keys(Plan)]`), that struct's
//!   `Default` too: the defaults, checked;
//! - a table with one: serde's per-key `default` (a function
//!   `default_<key>` per declared default, plain `default` for the type's
//!   own), no container
//!   default and no `Default`, so a missing required key stays serde's own
//!   located "missing field" error;
//! - for both, `KEYS`: the keys as written in the file, in declaration order
//!   (serde's `rename` applied).
//!
//! Given the checked struct (`#[table_keys(#[derive(Copy)] Plan, "prefix.")]`,
//! from `table! { struct Config in "prefix." => #[derive(Copy)] Plan { … } }`)
//! it also writes that struct: each key checked (a key marked
//! `#[key_range(lo..=hi)]` as `InRange` gives it, any other as `Unranged`
//! gives it), except the keys marked `#[apart]`, which the table's own check
//! reads by hand because they feed something worked out (an address, a zone
//! looked up). With it come `Checked` for the table, `Unranged` for the
//! table and for an optional one (so a table can be a checked key of
//! another), and, when every key it holds has a default, the struct's
//! `Default`: those defaults, checked.
//!
//! Nothing else about the struct changes. `#[derive(Keys)]` writes only
//! `KEYS`, for a struct that describes a table read some other way (the
//! file's top level, read key by key for its located errors).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{format_ident, quote};
use syn::{Attribute, Data, DeriveInput, Fields, LitStr, parse_macro_input, parse_quote};

/// Reads the `key_default`/`required` marks of a table's fields (module doc).
#[proc_macro_attribute]
pub fn table_keys(args: TokenStream, input: TokenStream) -> TokenStream {
    let plan = if args.is_empty() {
        None
    } else {
        Some(parse_macro_input!(args as PlanArgs))
    };
    let mut item = parse_macro_input!(input as DeriveInput);
    match expand(&mut item, plan.as_ref()) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// `KEYS` of a struct that is not a `config::table!` (module doc).
#[proc_macro_derive(Keys)]
pub fn derive_keys(input: TokenStream) -> TokenStream {
    let item = parse_macro_input!(input as DeriveInput);
    let names = match &item.data {
        Data::Struct(data) => data.fields.iter().map(key_name).collect::<syn::Result<Vec<_>>>(),
        _ => Err(syn::Error::new_spanned(&item.ident, "KEYS are a struct's")),
    };
    match names {
        Ok(names) => keys_const(&item.ident, &names).into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// A field's key as written in the file: its name, or serde's `rename`.
fn key_name(field: &syn::Field) -> syn::Result<String> {
    let mut name = field.ident.as_ref().map(ToString::to_string).unwrap_or_default();
    for attr in &field.attrs {
        if let Some(rename) = serde_rename(attr)? {
            name = rename;
        }
    }
    Ok(name)
}

/// `impl Table { pub const KEYS }`.
fn keys_const(table: &syn::Ident, names: &[String]) -> Tokens {
    quote! {
        #[allow(dead_code)]
        impl #table {
            /// The table's keys as written in the file, in declaration order.
            pub const KEYS: &'static [&'static str] = &[#(#names),*];
        }
    }
}

/// `#[derive(Copy)] Plan, "prefix."`: the checked struct's attributes, its
/// name, and what keys' names follow in messages.
struct PlanArgs {
    attrs: Vec<Attribute>,
    name: syn::Ident,
    prefix: String,
}

impl syn::parse::Parse for PlanArgs {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let name = input.parse()?;
        input.parse::<syn::Token![,]>()?;
        let prefix = input.parse::<LitStr>()?.value();
        Ok(Self { attrs, name, prefix })
    }
}

/// One key of the table, as marked.
struct Key {
    field: syn::Ident,
    vis: syn::Visibility,
    ty: syn::Type,
    /// `None`: required; `Some(None)`: the type's `Default`; `Some(Some(e))`: `e`.
    default: Option<Option<Tokens>>,
    /// The key as written in the file.
    name: String,
    /// `lo..=hi` when the key has a range.
    range: Option<Tokens>,
    /// Read by the table's own check, not held in its checked struct.
    apart: bool,
}

fn expand(item: &mut DeriveInput, plan: Option<&PlanArgs>) -> syn::Result<Tokens> {
    let table = item.ident.clone();
    let Data::Struct(data) = &mut item.data else {
        return Err(syn::Error::new_spanned(&item.ident, "a config table is a struct"));
    };
    let Fields::Named(fields) = &mut data.fields else {
        return Err(syn::Error::new_spanned(&item.ident, "a config table has named keys"));
    };
    let mut keys = Vec::new();
    for field in fields.named.iter_mut() {
        let ident = field.ident.clone().expect("named field");
        let mut default = None;
        let (mut required, mut apart, mut range) = (false, false, None);
        let name = key_name(field)?;
        for attr in &field.attrs {
            if attr.path().is_ident("key_default") {
                default = Some(match &attr.meta {
                    syn::Meta::Path(_) => None,
                    _ => Some(attr.meta.require_list()?.tokens.clone()),
                });
            } else if attr.path().is_ident("key_range") {
                range = Some(attr.meta.require_list()?.tokens.clone());
            } else if attr.path().is_ident("required") {
                attr.meta.require_path_only()?;
                required = true;
            } else if attr.path().is_ident("apart") {
                attr.meta.require_path_only()?;
                if plan.is_none() {
                    return Err(syn::Error::new_spanned(
                        attr,
                        "#[apart] keeps a key out of a checked struct; declare one (`=> Plan`)",
                    ));
                }
                apart = true;
            }
        }
        field.attrs.retain(|a| {
            !["key_default", "key_range", "required", "apart"]
                .iter()
                .any(|m| a.path().is_ident(m))
        });
        keys.push(Key {
            vis: field.vis.clone(),
            field: ident,
            ty: field.ty.clone(),
            default: if required { None } else { Some(default.flatten()) },
            name,
            range,
            apart,
        });
    }
    let names: Vec<String> = keys.iter().map(|k| k.name.clone()).collect();
    let keys_const = keys_const(&table, &names);

    if keys.iter().all(|k| k.default.is_some()) {
        item.attrs.push(parse_quote!(#[serde(default)]));
        let values = keys.iter().map(|k| {
            let field = &k.field;
            match k.default.as_ref().and_then(Option::as_ref) {
                Some(value) => quote!(#field: #value),
                None => quote!(#field: ::core::default::Default::default()),
            }
        });
        let checked = plan.map(|plan| checked_struct(&table, &item.vis, plan, &keys));
        return Ok(quote! {
            #item
            impl ::core::default::Default for #table {
                fn default() -> Self {
                    Self { #(#values,)* }
                }
            }
            #checked
            #keys_const
        });
    }

    let mut functions = Vec::new();
    let Data::Struct(data) = &mut item.data else {
        unreachable!()
    };
    for (field, key) in data.fields.iter_mut().zip(&keys) {
        match &key.default {
            None => {}
            Some(None) => field.attrs.push(parse_quote!(#[serde(default)])),
            Some(Some(value)) => {
                let function = format_ident!("default_{}", key.field);
                let path = LitStr::new(&format!("{table}::{function}"), key.field.span());
                let (ty, vis) = (&key.ty, &key.vis);
                let doc = format!("`{}` when the file leaves it out.", key.name);
                field.attrs.push(parse_quote!(#[serde(default = #path)]));
                functions.push(quote! {
                    #[doc = #doc]
                    #vis fn #function() -> #ty {
                        #value
                    }
                });
            }
        }
    }
    let checked = plan.map(|plan| checked_struct(&table, &item.vis, plan, &keys));
    Ok(quote! {
        #item
        impl #table {
            #(#functions)*
        }
        #checked
        #keys_const
    })
}

/// The checked struct of `table` (module doc): its declaration, `Checked`,
/// `Unranged` for the table and an optional one, and its `Default` when
/// every key it holds has one.
fn checked_struct(table: &syn::Ident, vis: &syn::Visibility, plan: &PlanArgs, keys: &[Key]) -> Tokens {
    let PlanArgs { attrs, name, prefix } = plan;
    let held: Vec<&Key> = keys.iter().filter(|k| !k.apart).collect();
    let fields = held.iter().map(|k| {
        let (field, vis, ty) = (&k.field, &k.vis, &k.ty);
        let doc = format!("`{prefix}{field}`.");
        let checked = match &k.range {
            Some(_) => quote!(<#ty as crate::config::table::InRange>::Checked),
            None => quote!(<#ty as crate::config::table::Unranged>::Value),
        };
        quote! {
            #[doc = #doc]
            #vis #field: #checked
        }
    });
    // each held key checked from `value` (an expression of the key's type)
    let check = |k: &Key, value: Tokens| {
        let (field, ty) = (&k.field, &k.ty);
        let key = format!("{prefix}{field}");
        match &k.range {
            Some(range) => quote! {
                let #field = crate::config::table::InRange::in_range(&#value, ctx, #range, #key);
            },
            None => quote! {
                let #field = <#ty as crate::config::table::Unranged>::value(&#value, ctx, #key);
            },
        }
    };
    let names: Vec<&syn::Ident> = held.iter().map(|k| &k.field).collect();
    let from_self = held.iter().map(|k| {
        let field = &k.field;
        check(k, quote!(self.#field))
    });
    let doc = format!("[`{table}`] checked: each key's value, in its range.");
    let default = held.iter().all(|k| k.default.is_some()).then(|| {
        let from_default = held.iter().map(|k| {
            let ty = &k.ty;
            let value = match k.default.as_ref().and_then(Option::as_ref) {
                Some(value) => quote!((#value)),
                None => quote!(<#ty as ::core::default::Default>::default()),
            };
            let field = &k.field;
            let check = check(k, quote!(#field));
            quote! {
                let #field: #ty = #value;
                #check
            }
        });
        quote! {
            impl ::core::default::Default for #name {
                /// Every key at its default, checked. The defaults lie in
                /// their ranges (each such table's tests build this), so
                /// nothing is reported.
                #[allow(unused_variables)]
                fn default() -> Self {
                    crate::config::table::quietly(|ctx| {
                        #(#from_default)*
                        Some(Self { #(#names: #names?,)* })
                    })
                    .expect("a table's defaults lie in their ranges")
                }
            }
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, PartialEq)]
        #(#attrs)*
        #vis struct #name {
            #(#fields,)*
        }

        impl crate::config::table::Checked for #table {
            type Plan = #name;

            #[allow(unused_variables)]
            fn checked(&self, ctx: &mut crate::config::Ctx<'_>) -> Option<#name> {
                #(#from_self)*
                Some(#name { #(#names: #names?,)* })
            }
        }

        impl crate::config::table::Unranged for #table {
            type Value = #name;
            fn value(&self, ctx: &mut crate::config::Ctx<'_>, _key: &str) -> Option<#name> {
                crate::config::table::Checked::checked(self, ctx)
            }
        }

        impl crate::config::table::Unranged for Option<#table> {
            type Value = Option<#name>;
            fn value(&self, ctx: &mut crate::config::Ctx<'_>, _key: &str) -> Option<Option<#name>> {
                match self {
                    Some(table) => crate::config::table::Checked::checked(table, ctx).map(Some),
                    None => Some(None),
                }
            }
        }

        #default
    }
}

/// `#[serde(rename = "loop")]`'s name, if the attribute is one.
fn serde_rename(attr: &Attribute) -> syn::Result<Option<String>> {
    if !attr.path().is_ident("serde") {
        return Ok(None);
    }
    let mut rename = None;
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("rename") {
            rename = Some(meta.value()?.parse::<LitStr>()?.value());
        } else if meta.input.peek(syn::Token![=]) {
            meta.value()?.parse::<syn::Lit>()?;
        } else if meta.input.peek(syn::token::Paren) {
            meta.input.parse::<proc_macro2::Group>()?;
        }
        Ok(())
    })?;
    Ok(rename)
}
