//! The messages as the other side of the boundary reads them.

use super::*;

#[test]
fn a_1_0_manifest_without_steps_still_parses() {
    let json = r#"{"name":"old","version":"0.1.0","api_version":"1.0.0","description":"d",
        "command":{"name":"old","about":"d"}}"#;
    let manifest: Manifest = serde_json::from_str(json).unwrap();
    assert!(manifest.steps.is_empty());
    assert!(manifest.command.args.is_empty());
}

#[test]
fn unknown_fields_from_a_newer_minor_are_ignored() {
    let json = r#"{"command":["x"],"args":{},"format":"json","some_field_from_1_9":true}"#;
    let request: Request = serde_json::from_str(json).unwrap();
    assert_eq!(request.format, OutputFormat::Json);
}

#[test]
fn arg_values_round_trip_untagged() {
    let mut request = Request::default();
    request.args.insert("detailed".into(), ArgValue::Flag(true));
    request
        .args
        .insert("service".into(), ArgValue::One("web".into()));
    request
        .args
        .insert("id".into(), ArgValue::Many(vec!["a".into(), "b".into()]));
    let back: Request = serde_json::from_str(&serde_json::to_string(&request).unwrap()).unwrap();
    assert!(back.flag("detailed"));
    assert!(!back.flag("missing"));
    assert_eq!(back.value("service"), Some("web"));
    assert_eq!(back.values("id"), ["a", "b"]);
}

#[test]
fn a_1_5_argument_without_a_value_kind_still_parses() {
    let json = r#"{"name":"parallel","kind":"option","help":"h","default":"32"}"#;
    let arg: ArgSpec = serde_json::from_str(json).unwrap();
    assert_eq!(arg.value_kind, None);
    let arg = ArgSpec::option("parallel", "h").unsigned(1, 256);
    let json = serde_json::to_string(&arg).unwrap();
    assert!(
        json.contains(r#""value_kind":{"type":"unsigned","min":1,"max":256}"#),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<ArgSpec>(&json).unwrap(), arg);
}

#[test]
fn an_unsigned_kind_takes_decimal_numbers_in_its_range_only() {
    let kind = ValueKind::Unsigned { min: 1, max: 256 };
    for good in ["1", "32", "256", "0032"] {
        assert_eq!(kind.check(good), Ok(()), "{good}");
    }
    for bad in [
        "0",
        "257",
        "abc",
        "",
        "-1",
        "+5",
        "1.5",
        " 3",
        "99999999999999999999999",
    ] {
        assert_eq!(
            kind.check(bad),
            Err("expected a whole number from 1 to 256".to_owned()),
            "{bad}"
        );
    }
}

#[test]
fn parsed_reads_a_typed_value_or_names_the_option() {
    let mut request = Request::default();
    assert_eq!(request.parsed::<u64>("parallel"), Ok(None));
    request
        .args
        .insert("parallel".into(), ArgValue::One("16".into()));
    assert_eq!(request.parsed::<usize>("parallel"), Ok(Some(16)));
    request
        .args
        .insert("parallel".into(), ArgValue::One("abc".into()));
    let error = request.parsed::<usize>("parallel").unwrap_err();
    assert_eq!(error.kind, ErrorKind::Usage);
    assert_eq!(
        error.message,
        "invalid value 'abc' for --parallel: invalid digit found in string"
    );
}

#[test]
fn a_json_answer_crosses_as_json_and_prints_as_before() {
    let value = serde_json::json!([{"name": "a \"quoted\"\nname", "tags": {"k": "v"}}]);
    let response = Response::json(&value).unwrap();
    // What a 1.5 plugin printed, byte for byte.
    let mut before = serde_json::to_string_pretty(&value).unwrap();
    before.push('\n');
    assert_eq!(response.stdout_text(), before);
    let wire = serde_json::to_string(&response).unwrap();
    assert!(
        wire.contains(
            r#""stdout_json":[
  {
    "name""#
        ),
        "{wire}"
    );
    let back: Response = serde_json::from_str(&wire).unwrap();
    assert_eq!(back, response);
    assert_eq!(back.stdout_text(), before);
    // A 1.5 plugin's answer: no document, its text as it was.
    let old: Response = serde_json::from_str(r#"{"stdout":"x\n","exit_code":0}"#).unwrap();
    assert_eq!((old.stdout_json, old.stdout.as_str()), (None, "x\n"));
}

#[test]
fn command_is_renamed_after_the_plugin() {
    let manifest = Manifest::new("members", "1.0.0", "d").command(CommandSpec::new("other", "x"));
    assert_eq!(manifest.command.name, "members");
    assert_eq!(manifest.api_version, crate::API_VERSION);
}
