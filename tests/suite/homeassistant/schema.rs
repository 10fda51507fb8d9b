//! Checks Home Assistant discovery payloads against
//! `tests/homeassistant/discovery.schema.json` (written from Home
//! Assistant's MQTT documentation): abbreviations are expanded first, as
//! Home Assistant does, then the payload is validated with the subset of
//! JSON Schema that file uses ($ref, type, const, enum, minLength,
//! minItems, properties, required, additionalProperties, items, oneOf,
//! anyOf), plus the rules the pages state in words.

use serde_json::{Map, Value};

pub struct Schema {
    root: Value,
}

impl Schema {
    pub fn load() -> Self {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/homeassistant/discovery.schema.json");
        let root = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        Self { root }
    }

    /// The components the schema describes.
    pub fn components(&self) -> Vec<String> {
        self.root["x-components"].as_object().unwrap().keys().cloned().collect()
    }

    fn expand(&self, table: &str, object: &Map<String, Value>, errors: &mut Vec<String>) -> Map<String, Value> {
        let names = &self.root["x-abbreviations"][table];
        let mut out = Map::new();
        for (key, value) in object {
            let full = names[key].as_str().unwrap_or(key).to_string();
            if out.insert(full.clone(), value.clone()).is_some() {
                errors.push(format!("`{full}` is given twice (abbreviated and in full)"));
            }
        }
        out
    }

    /// The problems of one discovery payload for `component`; empty when valid.
    pub fn validate(&self, component: &str, payload: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        let Some(spec) = self.root["x-components"].get(component) else {
            return vec![format!("component `{component}` is not described")];
        };
        let Some(object) = payload.as_object() else {
            return vec!["the payload is not a JSON object".into()];
        };
        let mut entity = self.expand("entity", object, &mut errors);
        for (key, table) in [("device", "device"), ("origin", "origin")] {
            if let Some(Value::Object(inner)) = entity.get(key) {
                let expanded = self.expand(table, inner, &mut errors);
                entity.insert(key.into(), Value::Object(expanded));
            }
        }
        if let Some(Value::Array(items)) = entity.get("availability") {
            let expanded: Vec<Value> = items
                .iter()
                .map(|i| match i {
                    Value::Object(o) => Value::Object(self.expand("entity", o, &mut errors)),
                    other => other.clone(),
                })
                .collect();
            entity.insert("availability".into(), Value::Array(expanded));
        }
        let mut properties = self.root["$defs"]["entity"].as_object().unwrap().clone();
        properties.remove("$comment");
        properties.extend(spec["properties"].as_object().unwrap().clone());
        let mut effective = serde_json::json!({
            "type": "object",
            "properties": properties,
            "required": spec.get("required").cloned().unwrap_or(Value::Array(vec![])),
            "additionalProperties": false,
        });
        for key in ["oneOf", "anyOf"] {
            if let Some(v) = spec.get(key) {
                effective[key] = v.clone();
            }
        }
        let entity = Value::Object(entity);
        self.check(&effective, &entity, "$", &mut errors);
        // Rules the pages state in words.
        if entity.get("device").is_some() && entity.get("unique_id").is_none() {
            errors.push("`device` only works with a `unique_id`".into());
        }
        if entity.get("availability").is_some() && entity.get("availability_topic").is_some() {
            errors.push("`availability` must not be used together with `availability_topic`".into());
        }
        if spec.get("x-options-need-enum").is_some() && entity.get("options").is_some() {
            if entity.get("device_class").and_then(Value::as_str) != Some("enum") {
                errors.push("`options` needs device_class `enum`".into());
            }
            if entity.get("unit_of_measurement").is_some() {
                errors.push("an `enum` sensor takes no unit_of_measurement".into());
            }
        }
        errors
    }

    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.strip_prefix("#/$defs/").expect("local $ref");
                self.resolve(&self.root["$defs"][name])
            }
            None => schema,
        }
    }

    fn check(&self, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(types) = schema.get("type") {
            let wanted: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let actual = match value {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            if !wanted
                .iter()
                .any(|w| *w == actual || (*w == "number" && actual == "integer"))
            {
                errors.push(format!("{path}: is {actual}, expected {}", wanted.join(" or ")));
                return;
            }
        }
        if let Some(c) = schema.get("const")
            && c != value
        {
            errors.push(format!("{path}: must be {c}"));
        }
        if let Some(Value::Array(options)) = schema.get("enum")
            && !options.contains(value)
        {
            errors.push(format!(
                "{path}: {value} is not one of {}",
                Value::Array(options.clone())
            ));
        }
        if let (Some(min), Value::String(s)) = (schema.get("minLength").and_then(Value::as_u64), value)
            && (s.chars().count() as u64) < min
        {
            errors.push(format!("{path}: shorter than {min}"));
        }
        if let Value::Array(items) = value {
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                errors.push(format!("{path}: fewer than {min} items"));
            }
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    self.check(item, v, &format!("{path}[{i}]"), errors);
                }
            }
        }
        if let Value::Object(object) = value {
            let properties = schema.get("properties").and_then(Value::as_object);
            for key in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                let key = key.as_str().unwrap();
                if !object.contains_key(key) {
                    errors.push(format!("{path}: `{key}` is required"));
                }
            }
            for (key, v) in object {
                match properties.and_then(|p| p.get(key)) {
                    Some(sub) => self.check(sub, v, &format!("{path}.{key}"), errors),
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => errors.push(format!(
                        "{path}: `{key}` is not an option Home Assistant documents here"
                    )),
                    None => {}
                }
            }
        }
        let passes = |s: &Value| {
            let mut e = Vec::new();
            self.check(s, value, path, &mut e);
            e.is_empty()
        };
        if let Some(Value::Array(alternatives)) = schema.get("oneOf") {
            let n = alternatives.iter().filter(|s| passes(s)).count();
            if n != 1 {
                errors.push(format!(
                    "{path}: matches {n} of the oneOf alternatives, expected exactly 1"
                ));
            }
        }
        if let Some(Value::Array(alternatives)) = schema.get("anyOf")
            && !alternatives.iter().any(passes)
        {
            errors.push(format!("{path}: matches none of the anyOf alternatives"));
        }
    }
}

#[test]
fn the_validator_rejects_what_home_assistant_would() {
    let schema = Schema::load();
    let ok =
        serde_json::json!({"name": "x", "stat_t": "a/b", "uniq_id": "u", "dev": {"ids": ["d"]}, "dev_cla": "tamper"});
    assert_eq!(schema.validate("binary_sensor", &ok), Vec::<String>::new());
    let cases = [
        ("binary_sensor", serde_json::json!({"name": "x"})),
        (
            "binary_sensor",
            serde_json::json!({"stat_t": "a", "dev_cla": "intruder"}),
        ),
        ("binary_sensor", serde_json::json!({"stat_t": "a", "stat_topic": "b"})),
        ("binary_sensor", serde_json::json!({"stat_t": "a", "state_topic": "b"})),
        (
            "binary_sensor",
            serde_json::json!({"stat_t": "a", "dev": {"ids": ["d"]}}),
        ),
        (
            "binary_sensor",
            serde_json::json!({"stat_t": "a", "uniq_id": "u", "dev": {"name": "d"}}),
        ),
        ("image", serde_json::json!({"img_t": "a", "url_t": "b"})),
        ("image", serde_json::json!({"cont_type": "image/jpeg"})),
        ("sensor", serde_json::json!({"stat_t": "a", "ops": ["x"]})),
        ("event", serde_json::json!({"stat_t": "a", "evt_typ": []})),
        ("switch", serde_json::json!({"stat_t": "a", "o": {"sw": "1"}})),
    ];
    for (component, payload) in cases {
        assert!(
            !schema.validate(component, &payload).is_empty(),
            "{component} {payload} passed"
        );
    }
}
