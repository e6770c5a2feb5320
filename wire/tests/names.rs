//! Every enum that travels by name reads back from its name, and from no other.

use wire::{DeliveryState, ErrorCode, FailureCode, FormKind, UnitKind, ViaAuthority};

fn round_trip<T>(all: &[T], name: impl Fn(T) -> &'static str)
where
    T: Copy + PartialEq + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let mut seen = std::collections::HashSet::new();
    for &value in all {
        assert!(seen.insert(name(value)), "{value:?} named twice");
        let json = serde_json::to_value(value).unwrap();
        assert_eq!(json, name(value));
        assert_eq!(serde_json::from_value::<T>(json).unwrap(), value);
    }
    assert!(serde_json::from_value::<T>("no_such_name".into()).is_err());
}

#[test]
fn every_name_reads_back_as_its_value_and_no_other_name_reads() {
    round_trip(ErrorCode::ALL, ErrorCode::as_str);
    round_trip(FormKind::ALL, FormKind::as_str);
    round_trip(UnitKind::ALL, UnitKind::as_str);
    round_trip(ViaAuthority::ALL, ViaAuthority::as_str);
    round_trip(DeliveryState::ALL, DeliveryState::as_str);
    round_trip(FailureCode::ALL, FailureCode::as_str);
}
