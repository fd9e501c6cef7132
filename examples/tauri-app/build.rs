//! Generates Tauri's context: the app's configuration, capabilities and icons.

fn main() {
    tauri_build::build();
}
