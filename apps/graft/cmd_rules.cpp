#include "commands.h"
namespace graft::cli {
void add_rules_command(CLI::App &app, GlobalOptions &options) { (void)app; (void)options; }
} // namespace graft::cli
