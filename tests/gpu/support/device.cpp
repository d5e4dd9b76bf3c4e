#include "device.h"

#include "plugin_loader.h"

namespace graft::gputest {

std::unique_ptr<Target> open_device(const std::string &name, std::string &why, bool &failure) {
    failure = false;
    const LoadedPlugin &p = load_plugin(name);
    if (!p.file_exists) {
        why = "plugin " + name + " is not built here: " + p.error;
        return nullptr;
    }
    if (!p.table) {
        why = "plugin " + name + " does not load: " + p.error;
        failure = name == "cuda" || name == "marlin";
        return nullptr;
    }
    if (p.table->n_devices == 0) {
        why = "plugin " + name + " has no device here (" +
              (p.table->status_note ? p.table->status_note : "no note") + ")";
        return nullptr;
    }
    return std::make_unique<Target>(p.table, 0);
}

} // namespace graft::gputest
