//! JSON shapes: the seeds' field names, types and timestamps.

use super::*;

/// The JSON shapes of the seeds: resolve's `contact` has exactly the seed's fields,
/// list entries add `identifiers` and `memories`, timestamps are
/// `2025-07-22T10:30:00.000Z`.
pub fn json_shapes_match_the_seeds<S: Store>(store: S) {
    let e = engine(store);
    let out = e
        .resolve(
            org_o(),
            &phone("+14155550192")
                .with_name("John Doe")
                .with_metadata(json!({"source": "api"})),
        )
        .unwrap();
    let v = serde_json::to_value(&out).unwrap();
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object().expect("object").keys().cloned().collect()
    };
    let contact_keys: BTreeSet<String> = [
        "id",
        "org_id",
        "name",
        "metadata",
        "created_at",
        "updated_at",
    ]
    .map(String::from)
    .into();
    assert_eq!(keys(&v["contact"]), contact_keys);
    assert_eq!(v["created"], json!(true));
    assert_eq!(
        v["contact"]["created_at"],
        json!("2025-07-22T10:30:00.000Z")
    );
    assert_eq!(
        v["contact"]["org_id"],
        json!("11111111-2222-3333-4444-555555555555")
    );
    assert_eq!(v["contact"]["metadata"], json!({"source": "api"}));
    let page = serde_json::to_value(e.list(org_o(), ListRequest::default()).unwrap()).unwrap();
    let item = &page["data"][0];
    let mut list_keys = contact_keys.clone();
    list_keys.extend(["identifiers", "memories"].map(String::from));
    assert_eq!(keys(item), list_keys);
    assert_eq!(
        keys(&item["identifiers"][0]),
        [
            "id",
            "contact_id",
            "identifier_type",
            "identifier_value",
            "is_primary"
        ]
        .map(String::from)
        .into()
    );
    assert_eq!(
        item["identifiers"][0]["identifier_type"],
        json!("phone_number")
    );
    assert_eq!(item["memories"], json!([]));
    // The seed's four fields, in its order, then the cursor (docs/semantics.md 5).
    assert_eq!(
        page["pagination"],
        json!({"total": 1, "limit": 50, "offset": 0, "has_more": false, "next_cursor": null})
    );
    // Deserialising the JSON gives the same value back.
    let back: ResolveOutcome = serde_json::from_value(v).unwrap();
    assert_eq!(back, out);
}
