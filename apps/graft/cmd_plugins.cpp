#include "commands.h"
namespace graft::cli {
void add_plugins_command(CLI::App &app, GlobalOptions &options) { (void)app; (void)options; }
} // namespace graft::cli
