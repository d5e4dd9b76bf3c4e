/* A shared library that is not a graft plugin: it exports no graft_plugin_init. */
#include <graft/plugin.h>

GRAFT_PLUGIN_EXPORT int not_a_graft_plugin(void) {
    return 42;
}
