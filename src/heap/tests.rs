use super::*;
use crate::tests::Rng;

fn fill(p: *mut u8, n: usize, seed: u8) {
    for i in 0..n {
        unsafe { p.add(i).write(seed.wrapping_add(i as u8)) };
    }
}

fn holds(p: *mut u8, n: usize, seed: u8) -> bool {
    (0..n).all(|i| unsafe { p.add(i).read() } == seed.wrapping_add(i as u8))
}

#[test]
fn every_size_is_aligned_usable_and_its_own() {
    let sizes = [0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 100, 1000, 4096 - HDR, 4096 - HDR + 1, 5000, 70_000, 1 << 20];
    let blocks: Vec<(*mut u8, usize)> = sizes.iter().map(|&n| (alloc(n), n)).collect();
    for (i, &(p, n)) in blocks.iter().enumerate() {
        assert!(!p.is_null(), "alloc({n})");
        assert_eq!(p as usize % ALIGN, 0, "alloc({n}) alignment");
        assert!(unsafe { usable(p) } >= n, "usable of alloc({n})");
        fill(p, n, i as u8);
    }
    // No block overlaps another: each still holds its own pattern.
    for (i, &(p, n)) in blocks.iter().enumerate() {
        assert!(holds(p, n, i as u8), "alloc({n}) was overwritten");
        unsafe { release(p) };
    }
}

#[test]
fn a_freed_block_is_reused_by_its_class() {
    // Other tests allocate concurrently, so look for reuse among a few tries.
    let p = alloc(40);
    unsafe { release(p) };
    let again: Vec<*mut u8> = (0..64).map(|_| alloc(40)).collect();
    assert!(again.contains(&p), "a freed 40-byte block was not handed out again");
    for q in again {
        unsafe { release(q) };
    }
}

#[test]
fn realloc_keeps_the_bytes_across_classes_and_mappings() {
    let mut p = alloc(10);
    fill(p, 10, 3);
    let mut n = 10;
    for next in [11, 200, 3000, 9000, 300_000, 20_000, 500, 5] {
        p = unsafe { resize(p, next) };
        assert!(!p.is_null());
        let kept = n.min(next);
        assert!(holds(p, kept, 3), "{n} -> {next}: contents lost");
        fill(p, next, 3);
        n = next;
    }
    unsafe { release(p) };
    // realloc(NULL, n) is malloc(n).
    let q = unsafe { resize(null_mut(), 24) };
    assert!(!q.is_null());
    unsafe { release(q) };
}

#[test]
fn realloc_within_the_block_does_not_move_but_a_mostly_empty_mapping_shrinks() {
    let p = alloc(100);
    assert_eq!(unsafe { resize(p, 101) }, p);
    unsafe { release(p) };
    let big = alloc(100_000);
    let small = unsafe { resize(big, 10) };
    assert_ne!(small, big, "a 100 KB mapping kept for 10 bytes");
    assert!(unsafe { usable(small) } < 100);
    unsafe { release(small) };
}

#[test]
fn calloc_zeroes_reused_blocks_and_refuses_overflow() {
    let p = alloc(64);
    unsafe { p.write_bytes(0xff, 64) };
    unsafe { release(p) };
    let blocks: Vec<*mut u8> = (0..16).map(|_| alloc_zeroed(8, 8)).collect();
    for &q in &blocks {
        assert!((0..64).all(|i| unsafe { q.add(i).read() } == 0));
    }
    for q in blocks {
        unsafe { release(q) };
    }
    assert!(alloc_zeroed(usize::MAX / 2, 3).is_null());
    assert_eq!(nix::errno::Errno::last(), nix::errno::Errno::ENOMEM);
}

#[test]
fn impossible_sizes_fail_with_enomem() {
    for n in [usize::MAX, usize::MAX - HDR, isize::MAX as usize + 1] {
        assert!(alloc(n).is_null(), "alloc({n})");
        assert_eq!(nix::errno::Errno::last(), nix::errno::Errno::ENOMEM);
    }
    let p = alloc(8);
    fill(p, 8, 5);
    assert!(unsafe { resize(p, usize::MAX) }.is_null());
    // A failed realloc leaves the old block alone.
    assert!(holds(p, 8, 5));
    unsafe { release(p) };
}

#[test]
fn aligned_blocks_are_aligned_and_free_cleanly() {
    for align in [ALIGN * 2, 64, 256, 4096, 65536] {
        for n in [1, 100, 5000] {
            let p = alloc_aligned(align, n);
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "align {align} n {n}");
            assert!(unsafe { usable(p) } >= n);
            fill(p, n, 9);
            assert!(holds(p, n, 9));
            unsafe { release(p) };
        }
    }
    assert!(alloc_aligned(24, 8).is_null(), "24 is not a power of two");
    assert_eq!(nix::errno::Errno::last(), nix::errno::Errno::EINVAL);
}

#[test]
fn threads_share_the_heap_without_losing_a_byte() {
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t + 1));
                let mut live: Vec<(*mut u8, usize, u8)> = Vec::new();
                for step in 0..20_000 {
                    if live.len() > 200 || (!live.is_empty() && rng.below(3) == 0) {
                        let (p, n, seed) = live.swap_remove(rng.below(live.len() as u64) as usize);
                        assert!(holds(p, n, seed), "thread {t} step {step}: block of {n} overwritten");
                        unsafe { release(p) };
                    } else {
                        let n = if rng.below(50) == 0 { 4096 + rng.below(20_000) as usize } else { rng.below(600) as usize };
                        let p = alloc(n);
                        assert!(!p.is_null());
                        let seed = step as u8 ^ t as u8;
                        fill(p, n, seed);
                        live.push((p, n, seed));
                    }
                }
                for (p, n, seed) in live {
                    assert!(holds(p, n, seed));
                    unsafe { release(p) };
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
