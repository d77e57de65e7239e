//! The image's build (the Dockerfile's `--no-default-features --features jemalloc`) holds
//! the operator only: none of the sandbox's crates, nor what only they use, is linked in.

use std::process::Command;

#[test]
fn the_image_build_links_no_sandbox_crate() {
    let tree = |features: &[&str]| {
        let out = Command::new(env!("CARGO"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "tree",
                "--locked",
                "--offline",
                "-p",
                "rolesync",
                "-e",
                "normal",
            ])
            .args(["--prefix", "none", "--format", "{p}"])
            .args(features)
            .output()
            .expect("cargo tree runs");
        assert!(
            out.status.success(),
            "cargo tree: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect::<std::collections::BTreeSet<_>>()
    };
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile"))
        .expect("Dockerfile");
    assert!(
        dockerfile.contains(
            "--profile image --locked --bin rolesync --no-default-features --features jemalloc"
        ),
        "the tree below is not the image's build"
    );
    let image = tree(&["--no-default-features", "--features", "jemalloc"]);
    let full = tree(&[]);
    for sandbox_only in ["in-memory-kube", "provider-sims", "testbed", "kube-cel"] {
        assert!(
            full.contains(sandbox_only),
            "{sandbox_only} is not in the full build: the check proves nothing"
        );
        assert!(
            !image.contains(sandbox_only),
            "the image build links {sandbox_only}"
        );
    }
    assert!(image.contains("tikv-jemallocator"));
}
