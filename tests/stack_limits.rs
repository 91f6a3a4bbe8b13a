//! Stack-size limits as a user meets them: the error for a size past the limit states the
//! limit truly.

#[test]
fn a_stack_of_1_tib_is_refused_with_the_true_limit() {
    let err = sprout::Builder::new()
        .stack_size(1 << 40)
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    let msg = err.to_string();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    assert!(msg.contains("1 TiB less one page"), "{msg}");
    assert!(msg.contains(&((1usize << 40) - page).to_string()), "{msg}");
}
