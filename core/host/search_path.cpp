// The plugin search path: explicit directories, the user's, the install prefix's, the
// build tree's, first wins (docs/design/plugin-loading.md).
#include <graft/host/registry.h>

#include <cstdlib>
#include <string_view>
#include <system_error>

namespace graft::host {
namespace {

namespace fs = std::filesystem;

// Relative to the install prefix, as the root CMakeLists.txt lays it out.
constexpr const char *kPluginSubdir = "lib/graft/plugins";

std::vector<std::string> split_path_list(std::string_view list) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= list.size()) {
        size_t end = list.find(':', start);
        if (end == std::string_view::npos)
            end = list.size();
        if (end > start)
            parts.emplace_back(list.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

class SearchPathBuilder {
  public:
    void add(const fs::path &dir, const char *origin) {
        if (dir.empty())
            return;
        std::error_code ec;
        fs::path absolute = fs::absolute(dir, ec);
        if (ec)
            absolute = dir;
        absolute = absolute.lexically_normal();
        // Two spellings of one directory (a symlink, "bin/../lib") are one entry.
        fs::path identity = fs::weakly_canonical(absolute, ec);
        if (ec)
            identity = absolute;
        for (const fs::path &seen : identities_)
            if (seen == identity)
                return;
        identities_.push_back(identity);
        dirs_.push_back(SearchDir{absolute, origin});
    }
    std::vector<SearchDir> take() { return std::move(dirs_); }

  private:
    std::vector<fs::path> identities_;
    std::vector<SearchDir> dirs_;
};

} // namespace

std::vector<SearchDir> describe_search_path(const std::vector<fs::path> &explicit_paths) {
    SearchPathBuilder path;
    for (const fs::path &entry : explicit_paths)
        for (const std::string &dir : split_path_list(entry.string()))
            path.add(dir, "--plugin-path");
    if (const char *env = std::getenv("GRAFT_PLUGIN_PATH"))
        for (const std::string &dir : split_path_list(env))
            path.add(dir, "GRAFT_PLUGIN_PATH");
    // ~/.local/lib rather than XDG_DATA_HOME (~/.local/share): plugins are machine code,
    // and share/ is for architecture-independent data.
    if (const char *home = std::getenv("HOME"); home && *home)
        path.add(fs::path(home) / ".local" / kPluginSubdir, "user");
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec && exe.has_parent_path()) {
        // A graft run from its build tree has the build tree as its prefix: say so.
        const fs::path prefix_dir = exe.parent_path().parent_path() / kPluginSubdir;
        const char *origin = "prefix";
#ifdef GRAFT_HOST_BUILD_PLUGIN_DIR
        std::error_code a_ec, b_ec;
        if (fs::weakly_canonical(prefix_dir, a_ec) ==
                fs::weakly_canonical(GRAFT_HOST_BUILD_PLUGIN_DIR, b_ec) &&
            !a_ec && !b_ec)
            origin = "build tree";
#endif
        path.add(prefix_dir, origin);
    }
#ifdef GRAFT_HOST_BUILD_PLUGIN_DIR
    path.add(GRAFT_HOST_BUILD_PLUGIN_DIR, "build tree");
#endif
    return path.take();
}

std::vector<fs::path> default_search_path(const std::vector<fs::path> &explicit_paths) {
    std::vector<fs::path> dirs;
    for (SearchDir &entry : describe_search_path(explicit_paths))
        dirs.push_back(std::move(entry.dir));
    return dirs;
}

} // namespace graft::host
