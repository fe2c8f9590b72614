// `sqlx::migrate!` embeds the migrations at compile time, but stable Rust cannot tell
// cargo to watch the folder from a macro: without this, a new migration file would be
// left out of an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
