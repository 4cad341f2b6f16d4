fn main() {
    std::process::exit(muros_ha::cli::main());
}
