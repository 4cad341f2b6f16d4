//! `muros-ha plan [--root DIR] master|backup|fault|stop`: print the ordered actions of a
//! transition without running any of them.

use super::notify::load_inputs;
use super::plan::{plan_for, render_lines};
use super::{GroupState, Transition};
use crate::paths::Paths;

/// Exit 0 with the plan on stdout; 2 for an unknown state; 1 when there is neither a
/// valid config nor a last good copy of the plan inputs.
pub fn command(paths: &Paths, state: &str) -> i32 {
    let to: GroupState = match state.parse() {
        Ok(s) => s,
        Err(e) => {
            errln!("muros-ha plan: {}", e);
            return 2;
        }
    };
    let (inputs, note) = load_inputs(paths, false);
    if let Some(n) = &note {
        if n.contains("no last good plan inputs") {
            errln!("muros-ha plan: {}", n);
            return 1;
        }
        errln!("# {}", n);
    }
    // `from` does not change a plan; see plan::plan_for.
    for line in render_lines(&plan_for(&Transition { from: None, to }, &inputs), paths) {
        outln!("{}", line);
    }
    0
}
