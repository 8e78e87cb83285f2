//! The command line: clap's tree of the host's options and every plugin's commands, one
//! invocation from parsing to exit status, the errors it reports, and what it generates (man
//! pages, shell completion). Nothing below this layer parses arguments or prints an error.

pub mod command;
pub mod completion;
pub mod error;
pub mod logging;
pub mod manual;
pub mod run;
pub mod spelling;
