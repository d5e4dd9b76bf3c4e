// The plugin search path: order, sources, colon lists, de-duplication.
#include <graft/host/registry.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace graft::host {
namespace {

namespace fs = std::filesystem;

// Sets an environment variable for one test and puts the old value back.
class ScopedEnv {
  public:
    ScopedEnv(const char *name, const char *value) : name_(name) {
        if (const char *old = std::getenv(name))
            old_ = old;
        if (value)
            ::setenv(name, value, 1);
        else
            ::unsetenv(name);
    }
    ~ScopedEnv() {
        if (old_)
            ::setenv(name_, old_->c_str(), 1);
        else
            ::unsetenv(name_);
    }
    ScopedEnv(const ScopedEnv &) = delete;
    ScopedEnv &operator=(const ScopedEnv &) = delete;

  private:
    const char *name_;
    std::optional<std::string> old_;
};

TEST(SearchPath, OrderAndOrigins) {
    ScopedEnv env("GRAFT_PLUGIN_PATH", "/env/a::/env/b:/opt/one");
    ScopedEnv home("HOME", "/home/someone");
    const std::vector<SearchDir> path = describe_search_path({"/opt/one:/opt/two", "/opt/one"});
    ASSERT_GE(path.size(), 6u);
    EXPECT_EQ(path[0].dir, "/opt/one");
    EXPECT_EQ(path[0].origin, "--plugin-path");
    EXPECT_EQ(path[1].dir, "/opt/two");
    EXPECT_EQ(path[1].origin, "--plugin-path");
    EXPECT_EQ(path[2].dir, "/env/a");
    EXPECT_EQ(path[2].origin, "GRAFT_PLUGIN_PATH");
    EXPECT_EQ(path[3].dir, "/env/b");
    EXPECT_EQ(path[4].dir, "/home/someone/.local/lib/graft/plugins");
    EXPECT_EQ(path[4].origin, "user");
    const fs::path exe = fs::read_symlink("/proc/self/exe");
    EXPECT_EQ(path[5].dir,
              (exe.parent_path().parent_path() / "lib/graft/plugins").lexically_normal());
    // A test binary in the build tree has the build tree as its prefix, and is told so.
    const bool in_build_tree =
        fs::weakly_canonical(path[5].dir) == fs::weakly_canonical(GRAFT_BUILD_PLUGIN_DIR);
    EXPECT_EQ(path[5].origin, in_build_tree ? "build tree" : "prefix");
    // The build tree's directory is on the path once, whichever entry names it first.
    const fs::path build = fs::weakly_canonical(GRAFT_BUILD_PLUGIN_DIR);
    int seen = 0;
    for (const SearchDir &entry : path)
        seen += fs::weakly_canonical(entry.dir) == build;
    EXPECT_EQ(seen, 1);
    EXPECT_EQ(default_search_path({"/opt/one"}).front(), "/opt/one");
}

TEST(SearchPath, RelativeDirectoriesBecomeAbsolute) {
    ScopedEnv env("GRAFT_PLUGIN_PATH", nullptr);
    const std::vector<SearchDir> path = describe_search_path({"plugins/../mine"});
    ASSERT_FALSE(path.empty());
    EXPECT_EQ(path[0].dir, (fs::current_path() / "mine").lexically_normal());
}

TEST(SearchPath, WithoutHomeThereIsNoUserDirectory) {
    ScopedEnv env("GRAFT_PLUGIN_PATH", "");
    ScopedEnv home("HOME", nullptr);
    for (const SearchDir &entry : describe_search_path({}))
        EXPECT_NE(entry.origin, "user") << entry.dir;
}

} // namespace
} // namespace graft::host
