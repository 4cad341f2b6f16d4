//! ubus (in progress)
