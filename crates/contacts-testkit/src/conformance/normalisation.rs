//! Normalisation through the engine (docs/semantics.md 2.1): phone, email and external
//! id forms, field errors, awkward values.

use super::*;

/// docs/semantics.md 2.1: formatted numbers, `tel:` and `00` all reach the one canonical number.
pub fn normalises_phone_forms<S: Store>(store: S) {
    let e = engine(store);
    let a = e.resolve(org_o(), &phone("+1 (415) 555-0192")).unwrap();
    for form in [
        "+14155550192",
        "+1.415.555.0192",
        "tel:+1-415-555-0192",
        "001 415 555 0192",
        " +1 415 555 0192 ",
    ] {
        let out = e.resolve(org_o(), &phone(form)).unwrap();
        assert_eq!(
            (out.contact.id, out.created),
            (a.contact.id, false),
            "{form}"
        );
        let found = e
            .find(org_o(), &FindRequest::new().with_phone(form))
            .unwrap();
        assert_eq!(found.map(|c| c.contact.id), Some(a.contact.id), "{form}");
    }
    assert_eq!(total(&e, org_o()), 1);
}

/// docs/semantics.md 2.1: a national number without a default region is `InvalidInput`.
pub fn national_phone_without_region_is_invalid<S: Store>(store: S) {
    let e = engine(store);
    assert_invalid(e.resolve(org_o(), &phone("(415) 555-0192")), "phone_number");
    assert_invalid(
        e.find(org_o(), &FindRequest::new().with_phone("415 555 0192")),
        "phone_number",
    );
    assert_eq!(total(&e, org_o()), 0);
}

/// docs/semantics.md 2.1: with a default region, a national number is read in that region.
pub fn national_phone_with_default_region<S: Store>(store: S) {
    let e = engine_with(store, Config::default().with_default_region("US"));
    let a = e.resolve(org_o(), &phone("(415) 555-0192")).unwrap();
    let b = e.resolve(org_o(), &phone("+14155550192")).unwrap();
    assert_eq!(b.contact.id, a.contact.id);
    assert_eq!(
        values(&get(&e, org_o(), a.contact.id)),
        vec![(PhoneNumber, "+14155550192", true)]
    );
}

/// docs/semantics.md 2.1: the strict option also requires the library's validity check.
pub fn strict_phone_validation<S: Store>(store: S) {
    let e = engine_with(store, Config::default().with_strict_phone_validation(true));
    // Ofcom's drama range: well-formed, never assigned.
    assert_invalid(e.resolve(org_o(), &phone("+447700900123")), "phone_number");
    assert!(e.resolve(org_o(), &phone("+447911123456")).unwrap().created);
}

/// docs/semantics.md 2.1: emails are trimmed and lower-cased as a whole; dots and +tags are kept.
pub fn normalises_email_case<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(
            org_o(),
            &ResolveRequest::new().with_email(" Sarah.Chen+VIP@Example.COM"),
        )
        .unwrap();
    let b = e
        .resolve(
            org_o(),
            &ResolveRequest::new().with_email("sarah.chen+vip@example.com"),
        )
        .unwrap();
    assert_eq!((b.contact.id, b.created), (a.contact.id, false));
    assert_eq!(
        values(&get(&e, org_o(), a.contact.id)),
        vec![(Email, "sarah.chen+vip@example.com", true)]
    );
    let c = e
        .resolve(
            org_o(),
            &ResolveRequest::new().with_email("sarahchen+vip@example.com"),
        )
        .unwrap();
    assert!(c.created, "dots are significant");
}

/// docs/semantics.md 2.1: external ids are case-sensitive, trimmed.
pub fn external_id_is_case_sensitive<S: Store>(store: S) {
    let e = engine(store);
    let a = e
        .resolve(org_o(), &ResolveRequest::new().with_external_id(" U-1 "))
        .unwrap();
    let b = e
        .resolve(org_o(), &ResolveRequest::new().with_external_id("u-1"))
        .unwrap();
    assert!(b.created);
    let c = e
        .resolve(org_o(), &ResolveRequest::new().with_external_id("U-1"))
        .unwrap();
    assert_eq!((c.contact.id, c.created), (a.contact.id, false));
}

/// docs/semantics.md 2.1, 7: every invalid input names its field and writes nothing.
pub fn invalid_input_names_the_field<S: Store>(store: S) {
    let e = engine(store);
    let o = org_o();
    let ok = || phone("+14155550192");
    assert_invalid(
        e.resolve(o, &ResolveRequest::new().with_phone("+1 415 CALL NOW")),
        "phone_number",
    );
    assert_invalid(
        e.resolve(o, &ResolveRequest::new().with_phone("12")),
        "phone_number",
    );
    assert_invalid(
        e.resolve(o, &ResolveRequest::new().with_email("no-at-sign")),
        "email",
    );
    assert_invalid(
        e.resolve(o, &ResolveRequest::new().with_email("a@b@c")),
        "email",
    );
    assert_invalid(
        e.resolve(
            o,
            &ResolveRequest::new().with_email(format!("{}@x.com", "a".repeat(65))),
        ),
        "email",
    );
    assert_invalid(
        e.resolve(o, &ResolveRequest::new().with_external_id("x".repeat(256))),
        "external_id",
    );
    assert_invalid(
        e.resolve(o, &ResolveRequest::new().with_external_id("a\0b")),
        "external_id",
    );
    assert_invalid(e.resolve(o, &ok().with_name("n".repeat(257))), "name");
    assert_invalid(e.resolve(o, &ok().with_name("a\0b")), "name");
    assert_invalid(e.resolve(o, &ok().with_metadata(json!([1, 2]))), "metadata");
    assert_invalid(e.resolve(o, &ok().with_metadata(json!("text"))), "metadata");
    assert_invalid(
        e.resolve(o, &ok().with_metadata(json!({"k": "a\u{0}b"}))),
        "metadata",
    );
    let mut deep = json!(1);
    for _ in 0..17 {
        deep = json!({ "d": deep });
    }
    assert_invalid(e.resolve(o, &ok().with_metadata(deep)), "metadata");
    let big = "x".repeat(64 * 1024);
    assert_invalid(
        e.resolve(o, &ok().with_metadata(json!({ "big": big }))),
        "metadata",
    );
    // A valid identifier alongside an invalid one: still rejected, nothing written.
    assert_invalid(e.resolve(o, &ok().with_email("broken")), "email");
    assert_eq!(total(&e, o), 0, "no rejection may write anything");
    // Right at the limits is accepted.
    let mut deep_ok = json!(1);
    for _ in 0..16 {
        deep_ok = json!({ "d": deep_ok });
    }
    let name_ok = "é".repeat(256);
    let out = e
        .resolve(o, &ok().with_name(name_ok.clone()).with_metadata(deep_ok))
        .unwrap();
    assert_eq!(out.contact.name.as_deref(), Some(name_ok.as_str()));
}

/// Awkward values (quotes, SQL metacharacters, multi-byte text, values at their size
/// limits) are stored and read back exactly.
pub fn awkward_values_round_trip<S: Store>(store: S) {
    let e = engine(store);
    let ext = format!("ü'; DROP TABLE contacts; --\"{}x", "日".repeat(75));
    assert_eq!(ext.len(), 255, "at the external id limit");
    // SQL's quote and LIKE wildcards are RFC 5322 `atext`; a backslash is not (only
    // inside a quoted local part, which the engine refuses: docs/semantics.md 2.1).
    let email = format!("{}@{}.example.com", "o'neil%_".repeat(8), "ü".repeat(20));
    let name = "Zoë \"Q\" O'Brien 👋 %_\\".to_owned();
    let metadata =
        json!({"sql": "' OR 1=1 --", "nested": {"emoji": "🎉", "n": [1, 2.5, null, true]}, "": ""});
    let out = e
        .resolve(
            org_o(),
            &ResolveRequest::new()
                .with_external_id(ext.clone())
                .with_email(email.clone())
                .with_name(name.clone())
                .with_metadata(metadata.clone()),
        )
        .unwrap();
    let c = get(&e, org_o(), out.contact.id);
    assert_eq!(c.contact.name.as_deref(), Some(name.as_str()));
    assert_eq!(Value::Object(c.contact.metadata.to_object()), metadata);
    assert_eq!(
        values(&c),
        vec![
            (ExternalId, ext.as_str(), true),
            (Email, email.to_lowercase().as_str(), true)
        ]
    );
    let found = e
        .find(org_o(), &FindRequest::new().with_external_id(ext))
        .unwrap();
    assert_eq!(found.map(|f| f.contact.id), Some(out.contact.id));
}
