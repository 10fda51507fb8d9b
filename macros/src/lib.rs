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
        Some(parse_macro_input!(args as syn::Ident))
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

/// One key of the table, as marked.
struct Key {
    field: syn::Ident,
    vis: syn::Visibility,
    ty: syn::Type,
    /// `None`: required; `Some(None)`: the type's `Default`; `Some(Some(e))`: `e`.
    default: Option<Option<Tokens>>,
    /// The key as written in the file.
    name: String,
}

fn expand(item: &mut DeriveInput, plan: Option<&syn::Ident>) -> syn::Result<Tokens> {
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
        let mut required = false;
        let name = key_name(field)?;
        for attr in &field.attrs {
            if attr.path().is_ident("key_default") {
                default = Some(match &attr.meta {
                    syn::Meta::Path(_) => None,
                    _ => Some(attr.meta.require_list()?.tokens.clone()),
                });
            } else if attr.path().is_ident("required") {
                attr.meta.require_path_only()?;
                required = true;
            }
        }
        field
            .attrs
            .retain(|a| !a.path().is_ident("key_default") && !a.path().is_ident("required"));
        keys.push(Key {
            vis: field.vis.clone(),
            field: ident,
            ty: field.ty.clone(),
            default: if required { None } else { Some(default.flatten()) },
            name,
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
        let plan_default = plan.map(|plan| {
            quote! {
                impl ::core::default::Default for #plan {
                    fn default() -> Self {
                        crate::config::table::checked_default::<#table>()
                    }
                }
            }
        });
        return Ok(quote! {
            #item
            impl ::core::default::Default for #table {
                fn default() -> Self {
                    Self { #(#values,)* }
                }
            }
            #plan_default
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
    Ok(quote! {
        #item
        impl #table {
            #(#functions)*
        }
        #keys_const
    })
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
