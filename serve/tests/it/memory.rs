//! Memory stays bounded over many requests. mistral.rs 0.8.1's prefix cache never evicts a cache
//! that lives on the CPU, so with it on every finished sequence kept its KV cache (23.6 MB for
//! SmolLM2-135M: 30 layers × K and V × 3 heads × 64 × 512 reserved positions × 4 bytes).

use crate::support::{chat_body, post, start, state};

/// The resident set size of this process (the engine runs in-process), in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_else(|e| panic!("/proc/self/status: {e}"));
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/self/status"));
    kib * 1024
}

#[test]
fn finished_requests_do_not_keep_their_kv_caches() {
    let _serial = crate::support::serial();
    let url = format!("{}/v1/chat/completions", start(state(Default::default())));
    let ask = |index: usize| {
        let (status, body) = post(
            &url,
            &chat_body(&format!("Say the number {index}."), 2),
            None,
        );
        assert_eq!(status, 200, "{body}");
    };
    (0..4).for_each(&ask);
    let before = resident_bytes();
    let requests = 24;
    (4..4 + requests).for_each(&ask);
    let grown = resident_bytes().saturating_sub(before);
    // Kept caches would add 24 × 23.6 MB ≈ 566 MB.
    assert!(
        grown < 160 << 20,
        "{requests} finished requests grew the process by {} MB",
        grown >> 20
    );
}
