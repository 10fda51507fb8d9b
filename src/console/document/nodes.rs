//! Reading and writing `toml_edit` nodes: numbers, point lists, a zone's
//! units, named tables, the lists of tables a camera's zones and rules (and
//! the cameras) are written as — `[[…]]` tables or inline arrays of inline
//! tables, alike — and setting a value so its spacing and trailing comment
//! stay.

use toml_edit::{Array, ArrayOfTables, InlineTable, Item, Table, TableLike, Value};

/// Coordinates written to the file are rounded to this many decimals.
pub(super) const DECIMALS: f64 = 10_000.0;

pub(super) fn points_of(item: Option<&Item>) -> Option<Vec<[f64; 2]>> {
    let array = item?.as_array()?;
    array
        .iter()
        .map(|p| {
            let pair = p.as_array()?;
            let n = |i: usize| {
                let v = pair.get(i)?;
                v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
            };
            (pair.len() == 2).then_some([n(0)?, n(1)?])
        })
        .collect()
}

/// The scale from normalised points to the zone's written units.
pub(super) fn zone_scale(zone: &dyn TableLike) -> [f64; 2] {
    let px = zone.get("units").and_then(Item::as_str) == Some("px");
    let size = zone
        .get("frame_size")
        .and_then(Item::as_array)
        .map(|a| a.iter().filter_map(Value::as_integer).collect::<Vec<_>>());
    match (px, size.as_deref()) {
        (true, Some([w, h])) if *w > 0 && *h > 0 => [*w as f64, *h as f64],
        _ => [1.0, 1.0],
    }
}

/// The tables of a list as the file writes it: an array of tables
/// (`[[cameras.rules]]`) or an inline array of inline tables
/// (`rules = [{ … }, { … }]`). Anything else is refused with the reason, so
/// nothing the editor cannot show is ever dropped. A missing list is empty.
pub(super) fn list<'t>(item: Option<&'t Item>, what: &str) -> Result<Vec<&'t dyn TableLike>, String> {
    match item {
        None => Ok(Vec::new()),
        Some(Item::ArrayOfTables(a)) => Ok(a.iter().map(|t| t as &dyn TableLike).collect()),
        Some(Item::Value(Value::Array(a))) => a
            .iter()
            .map(|v| match v {
                Value::InlineTable(t) => Ok(t as &dyn TableLike),
                other => Err(format!(
                    "`{what}` holds {} where a table is expected",
                    other.type_name()
                )),
            })
            .collect(),
        Some(other) => Err(format!(
            "`{what}` is {}, not a list of tables ([[{what}]] or {what} = [{{ … }}])",
            other.type_name()
        )),
    }
}

/// An element of an edited list (a zone, a rule), found in the file by its name.
pub(super) trait Named {
    fn name(&self) -> &str;
}

/// A camera's zones or rules, or the cameras, as the file writes them, for
/// changing in place.
pub(super) enum ListMut<'t> {
    /// `[[cameras.rules]]`
    Tables(&'t mut ArrayOfTables),
    /// `rules = [{ … }, { … }]`: every element an inline table (checked by [`list`]).
    Inline(&'t mut Array),
}

impl<'t> ListMut<'t> {
    /// The list `key` of `parent`, made (of the kind that fits the parent) if
    /// missing. Call [`list`] first: a value of another kind is refused here.
    pub(super) fn of(parent: &'t mut dyn TableLike, key: &str, inline_parent: bool) -> Result<Self, String> {
        if parent.get(key).is_none() {
            let made = if inline_parent {
                Item::Value(Value::Array(Array::new()))
            } else {
                Item::ArrayOfTables(ArrayOfTables::new())
            };
            parent.insert(key, made);
        }
        match parent.get_mut(key) {
            Some(Item::ArrayOfTables(a)) => Ok(Self::Tables(a)),
            Some(Item::Value(Value::Array(a))) if a.iter().all(Value::is_inline_table) => Ok(Self::Inline(a)),
            _ => Err(format!("`{key}` is not a list of tables")),
        }
    }

    /// The camera's list `key` (`"zones"`, `"rules"`) with every element
    /// whose name is not in `keep` taken out, each logged in `changes` as
    /// `<who>: <what> `<name>` removed`; None when the camera has no such
    /// list and the edit none either.
    pub(super) fn pruned(
        camera: &'t mut dyn TableLike,
        key: &str,
        inline: bool,
        keep: &[&str],
        (what, who): (&str, &str),
        changes: &mut Vec<String>,
    ) -> Result<Option<Self>, String> {
        if camera.get(key).is_none() && keep.is_empty() {
            return Ok(None);
        }
        let mut list = Self::of(camera, key, inline)?;
        for (i, name) in list.names().iter().enumerate().rev() {
            if !keep.contains(&name.as_str()) {
                changes.push(format!("{who}: {what} `{name}` removed"));
                list.remove(i);
            }
        }
        Ok(Some(list))
    }

    /// Brings the camera's list `key` to `items`, matched by name: the
    /// elements no item names are taken out (as [`Self::pruned`] does), and
    /// `edit` is handed each item with its table and whether that table was
    /// just added (holding only the item's name).
    pub(super) fn edit_by_name<T: Named>(
        camera: &'t mut dyn TableLike,
        key: &str,
        inline: bool,
        items: &[T],
        (what, who): (&str, &str),
        changes: &mut Vec<String>,
        mut edit: impl FnMut(&T, &mut dyn TableLike, bool, &mut Vec<String>),
    ) -> Result<(), String> {
        let keep: Vec<&str> = items.iter().map(Named::name).collect();
        let Some(mut list) = Self::pruned(camera, key, inline, &keep, (what, who), changes)? else {
            return Ok(());
        };
        for item in items {
            let found = list.names().iter().position(|n| n == item.name());
            match found.and_then(|i| list.get_mut(i)) {
                Some(table) => edit(item, table, false, changes),
                None => list.push(|table| {
                    table.insert("name", toml_edit::value(item.name()));
                    edit(item, table, true, changes);
                }),
            }
        }
        Ok(())
    }

    pub(super) fn is_inline(&self) -> bool {
        matches!(self, Self::Inline(_))
    }

    pub(super) fn names(&self) -> Vec<String> {
        (0..self.len())
            .map(|i| self.get(i).map(name_of).unwrap_or_default().to_string())
            .collect()
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Self::Tables(a) => a.len(),
            Self::Inline(a) => a.len(),
        }
    }

    pub(super) fn get(&self, i: usize) -> Option<&dyn TableLike> {
        match self {
            Self::Tables(a) => a.get(i).map(|t| t as &dyn TableLike),
            Self::Inline(a) => a.get(i)?.as_inline_table().map(|t| t as &dyn TableLike),
        }
    }

    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut dyn TableLike> {
        match self {
            Self::Tables(a) => a.get_mut(i).map(|t| t as &mut dyn TableLike),
            Self::Inline(a) => a.get_mut(i)?.as_inline_table_mut().map(|t| t as &mut dyn TableLike),
        }
    }

    /// Takes out element `i`; in an inline array the spacing before the
    /// closing bracket stays.
    pub(super) fn remove(&mut self, i: usize) {
        match self {
            Self::Tables(a) => {
                a.remove(i);
            }
            Self::Inline(a) => {
                let last = i + 1 == a.len();
                let suffix = a.get(i).and_then(|v| v.decor().suffix().cloned());
                a.remove(i);
                if last && let (Some(suffix), Some(new_last)) = (suffix, a.get_mut(i.wrapping_sub(1))) {
                    new_last.decor_mut().set_suffix(suffix);
                }
            }
        }
    }

    /// Appends a table filled by `fill`: a `[[…]]` table, or an inline table
    /// laid out like the elements before it (on its own line when they are).
    pub(super) fn push(&mut self, fill: impl FnOnce(&mut dyn TableLike)) {
        match self {
            Self::Tables(a) => {
                let mut table = Table::new();
                fill(&mut table);
                a.push(table);
            }
            Self::Inline(a) => {
                let mut table = InlineTable::new();
                fill(&mut table);
                table.fmt();
                let mut value = Value::InlineTable(table);
                if let Some(last) = a.iter_mut().last() {
                    let decor = last.decor().clone();
                    if let Some(prefix) = decor.prefix() {
                        value.decor_mut().set_prefix(prefix.clone());
                    }
                    // The spacing before `]` moves to the new last element.
                    if let Some(suffix) = decor.suffix() {
                        value.decor_mut().set_suffix(suffix.clone());
                        last.decor_mut().set_suffix("");
                    }
                } else {
                    value.decor_mut().set_prefix("");
                    value.decor_mut().set_suffix("");
                }
                a.push_formatted(value);
            }
        }
    }
}

/// The privacy masks a camera lists (`[cameras.privacy] masks`, an inline
/// `privacy = { masks = … }` or `privacy.masks = …`), or why the editor
/// cannot show them all.
pub(super) fn masks_of(camera: &dyn TableLike) -> Result<Vec<Vec<[f64; 2]>>, String> {
    let Some(privacy) = camera.get("privacy") else {
        return Ok(Vec::new());
    };
    let privacy = privacy
        .as_table_like()
        .ok_or_else(|| "`privacy` is not a table".to_string())?;
    let Some(masks) = privacy.get("masks") else {
        return Ok(Vec::new());
    };
    let masks = masks
        .as_array()
        .ok_or_else(|| "`privacy.masks` is not a list of point lists".to_string())?;
    masks
        .iter()
        .enumerate()
        .map(|(i, m)| {
            points_of(Some(&Item::Value(m.clone())))
                .ok_or_else(|| format!("privacy mask {} is not a list of [x, y] points", i + 1))
        })
        .collect()
}

pub(super) fn name_of(table: &dyn TableLike) -> &str {
    table.get("name").and_then(Item::as_str).unwrap_or("")
}

pub(super) fn round(v: f64) -> f64 {
    (v * DECIMALS).round() / DECIMALS
}

pub(super) fn points_value(points: &[[f64; 2]], scale: [f64; 2]) -> Value {
    let mut array: Array = points
        .iter()
        .map(|[x, y]| {
            let mut pair = Array::new();
            pair.push(round(x * scale[0]));
            pair.push(round(y * scale[1]));
            Value::Array(pair)
        })
        .collect();
    array.fmt();
    Value::Array(array)
}

pub(super) fn same_points(a: &[[f64; 2]], b: &[[f64; 2]], tolerance: f64) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(p, q)| (p[0] - q[0]).abs() <= tolerance && (p[1] - q[1]).abs() <= tolerance)
}

/// Sets `key` to `value`, keeping the old value's spacing and trailing comment.
pub(super) fn set(table: &mut dyn TableLike, key: &str, mut value: Value) {
    match table.get_mut(key) {
        Some(Item::Value(old)) => {
            *value.decor_mut() = old.decor().clone();
            *old = value;
        }
        Some(item) => *item = Item::Value(value),
        None => {
            table.insert(key, Item::Value(value));
        }
    }
}

pub(super) fn string_array(items: &[String]) -> Value {
    Value::Array(items.iter().map(String::as_str).collect())
}
