//! Stack-size limits and the `SPROUT_STACK_GUARDS` variable, as a user meets them: the error
//! for a size past the limit states the limit truly, and a value the variable does not accept
//! is reported on stderr instead of being ignored silently.

mod support;

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

#[test]
fn a_bogus_stack_guards_value_is_warned_about() {
    if std::env::var_os("SPROUT_CHILD").is_some() {
        assert_eq!(sprout::spawn(|| 1).join().unwrap(), 1);
        println!("CHILD-DONE");
        return;
    }
    let run = |value: &str| {
        let out = support::run_self(
            "a_bogus_stack_guards_value_is_warned_about",
            &[("SPROUT_CHILD", "1"), ("SPROUT_STACK_GUARDS", value)],
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("CHILD-DONE"), "{stdout}");
        stderr
    };
    let stderr = run("bogus");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("SPROUT_STACK_GUARDS"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("bogus"), "{stderr}");
    assert!(warnings[0].contains("mprotect"), "{stderr}");
    // The accepted value is not warned about.
    let stderr = run("mprotect");
    assert!(!stderr.contains("SPROUT_STACK_GUARDS"), "{stderr}");
}
