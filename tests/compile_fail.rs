//! The type-level privacy guarantee: the publisher (and anything that stores
//! images) accepts only a redacted image, which only the redaction module can
//! make, so a raw frame cannot reach MQTT or disk. Each file in
//! tests/compile_fail/ must fail to compile with the error in its .stderr.

#[test]
fn an_unredacted_picture_cannot_reach_the_publisher() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/compile_fail/*.rs");
}
