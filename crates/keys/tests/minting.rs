//! Properties of minted keys and account IDs, over random accounts and seeds.

use keys::{
    decode_account, looks_like_secret_access_key, mint_access_key_id, mint_secret_access_key,
    AccessKeyId, AccountDecode, AccountId, KeyKind,
};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn kind() -> impl Strategy<Value = KeyKind> {
    proptest::sample::select(KeyKind::ALL.to_vec())
}

fn account() -> impl Strategy<Value = AccountId> {
    (0..=AccountId::MAX).prop_map(|n| AccountId::new(n).unwrap())
}

proptest! {
    #[test]
    fn minted_ids_validate_and_decode_to_their_account(
        kind in kind(),
        account in account(),
        seed in any::<u64>(),
    ) {
        let id = mint_access_key_id(kind, account, &mut StdRng::seed_from_u64(seed));
        let parsed = AccessKeyId::parse(id.as_str()).unwrap();
        prop_assert_eq!(&parsed, &id);
        prop_assert_eq!(parsed.kind(), kind);
        prop_assert_eq!(decode_account(id.as_str()), Ok(AccountDecode::Account(account)));
        prop_assert!(id.as_str().starts_with(kind.prefix()));
        let expected_len = if kind.is_access_key() { 20 } else { 21 };
        prop_assert_eq!(id.as_str().len(), expected_len);
    }

    #[test]
    fn minted_ids_have_a_modern_fifth_character(
        kind in kind(),
        account in account(),
        seed in any::<u64>(),
    ) {
        let id = mint_access_key_id(kind, account, &mut StdRng::seed_from_u64(seed));
        let fifth = id.as_str().as_bytes()[4];
        // Real modern keys: Q-Z or 2-7 because bit 79 is set, and never 7 because 12-digit
        // accounts leave the top four account bits at 14 or less.
        prop_assert!(matches!(fifth, b'Q'..=b'Z' | b'2'..=b'6'), "{}", id);
    }

    #[test]
    fn minted_secrets_match_the_format(seed in any::<u64>()) {
        let secret = mint_secret_access_key(&mut StdRng::seed_from_u64(seed));
        prop_assert!(looks_like_secret_access_key(&secret), "{}", secret);
    }

    #[test]
    fn account_ids_round_trip(account in account()) {
        let text = account.to_string();
        prop_assert_eq!(text.len(), 12);
        prop_assert_eq!(text.parse::<AccountId>(), Ok(account));
    }

    #[test]
    fn account_id_text_round_trips(text in "[0-9]{12}") {
        let account: AccountId = text.parse().unwrap();
        prop_assert_eq!(account.to_string(), text);
    }

    #[test]
    fn parse_never_panics(text in "\\PC{0,25}") {
        let _ = AccessKeyId::parse(&text);
        let _ = text.parse::<AccountId>();
    }
}

#[test]
fn same_seed_mints_the_same_keys() {
    let account = AccountId::new(123_456_789_012).unwrap();
    let mint = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        let id = mint_access_key_id(KeyKind::LongTerm, account, &mut rng);
        (id, mint_secret_access_key(&mut rng))
    };
    assert_eq!(mint(7), mint(7));
    assert_ne!(mint(7), mint(8));
}

#[test]
fn the_edges_of_the_account_range_mint() {
    let mut rng = StdRng::seed_from_u64(0);
    for n in [0, 1, AccountId::MAX] {
        let account = AccountId::new(n).unwrap();
        let id = mint_access_key_id(KeyKind::Temporary, account, &mut rng);
        assert_eq!(id.account(), AccountDecode::Account(account), "{id}");
    }
}
