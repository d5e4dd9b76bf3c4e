// The bytes of packages: SHA-256 (OpenSSL's libcrypto) and gzip-compressed tar
// (libarchive). Extraction writes every file itself instead of using archive_write_disk,
// so that nothing but plain files and directories below the destination can come out of
// an archive, whatever it holds.
#include <graft/host/package.h>
#include <graft/util/error.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

namespace graft::host {
namespace {

namespace fs = std::filesystem;

// Limits on what an archive may unpack to: far above any plugin, below a disk filler.
constexpr int64_t kMaxUnpackedBytes = int64_t{16} << 30;
constexpr size_t kMaxEntries = 10000;

struct ArchiveReadDeleter {
    void operator()(archive *a) const { archive_read_free(a); }
};
struct ArchiveWriteDeleter {
    void operator()(archive *a) const { archive_write_free(a); }
};
struct EntryDeleter {
    void operator()(archive_entry *e) const { archive_entry_free(e); }
};
struct DigestDeleter {
    void operator()(EVP_MD_CTX *c) const { EVP_MD_CTX_free(c); }
};

std::string archive_message(archive *a) {
    const char *message = archive_error_string(a);
    return message ? message : "unknown libarchive error";
}

// An entry's path made safe: "./x/y" -> "x/y"; "" for a path that would leave the
// destination or is not a plain relative path.
std::string safe_entry_path(const char *raw) {
    if (!raw)
        return "";
    std::string path = raw;
    while (path.rfind("./", 0) == 0)
        path.erase(0, 2);
    while (!path.empty() && path.back() == '/')
        path.pop_back();
    if (path.empty() || path.front() == '/')
        return "";
    std::stringstream parts(path);
    for (std::string part; std::getline(parts, part, '/');)
        if (part.empty() || part == "." || part == "..")
            return "";
    return path;
}

class FileDescriptor {
  public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    ~FileDescriptor() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    FileDescriptor(const FileDescriptor &) = delete;
    FileDescriptor &operator=(const FileDescriptor &) = delete;
    int get() const { return fd_; }
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }

  private:
    int fd_;
};

void write_all(int fd, const void *data, size_t size, const fs::path &file) {
    const char *p = static_cast<const char *>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw Error("cannot write " + file.string() + ": " + std::strerror(errno));
        }
        p += n;
        size -= static_cast<size_t>(n);
    }
}

} // namespace

std::string sha256_file(const fs::path &file) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw Error("cannot read " + file.string());
    std::unique_ptr<EVP_MD_CTX, DigestDeleter> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        throw Error("SHA-256 is not available from OpenSSL");
    std::vector<char> buffer(1u << 20);
    while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0)
        EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(in.gcount()));
    if (in.bad())
        throw Error("error while reading " + file.string());
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx.get(), digest.data(), &length);
    static const char *hex = "0123456789abcdef";
    std::string text;
    for (unsigned int i = 0; i < length; ++i) {
        text += hex[digest[i] >> 4];
        text += hex[digest[i] & 15];
    }
    return text;
}

void write_package_archive(const fs::path &root, const Manifest &manifest, const fs::path &output) {
    const std::string top = manifest.name + "-" + manifest.version + "/";
    const fs::path temp = output.string() + ".part";
    std::unique_ptr<archive, ArchiveWriteDeleter> a(archive_write_new());
    // pax (restricted): long names and exact sizes; no timestamps in the gzip header, so
    // that one build gives one package, byte for byte.
    if (archive_write_add_filter_gzip(a.get()) != ARCHIVE_OK ||
        archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
        archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr) < ARCHIVE_WARN ||
        archive_write_open_filename(a.get(), temp.c_str()) != ARCHIVE_OK)
        throw Error("cannot write " + temp.string() + ": " + archive_message(a.get()));

    auto add = [&](const std::string &name, const std::string &bytes, bool executable) {
        std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
        archive_entry_set_pathname(entry.get(), (top + name).c_str());
        archive_entry_set_filetype(entry.get(), AE_IFREG);
        archive_entry_set_perm(entry.get(), executable ? 0755 : 0644);
        archive_entry_set_size(entry.get(), static_cast<la_int64_t>(bytes.size()));
        archive_entry_set_mtime(entry.get(), 0, 0);
        if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK ||
            archive_write_data(a.get(), bytes.data(), bytes.size()) !=
                static_cast<la_ssize_t>(bytes.size()))
            throw Error("cannot add " + name + " to " + output.string() + ": " +
                        archive_message(a.get()));
    };
    auto slurp = [](const fs::path &file) {
        std::ifstream in(file, std::ios::binary);
        if (!in)
            throw Error("cannot read " + file.string());
        std::ostringstream bytes;
        bytes << in.rdbuf();
        return bytes.str();
    };
    try {
        add(kManifestFile, manifest_yaml(manifest), false);
        for (const PackageFile &file : manifest.files)
            add(file.path, slurp(root / file.path),
                file.kind == PackageFileKind::Plugin || file.kind == PackageFileKind::Library);
        if (archive_write_close(a.get()) != ARCHIVE_OK)
            throw Error("cannot finish " + temp.string() + ": " + archive_message(a.get()));
    } catch (...) {
        std::error_code ec;
        fs::remove(temp, ec);
        throw;
    }
    std::error_code ec;
    fs::rename(temp, output, ec);
    if (ec) {
        fs::remove(temp, ec);
        throw Error("cannot move the package to " + output.string() + ": " + ec.message());
    }
}

void extract_package_archive(const fs::path &archive_path, const fs::path &dest) {
    std::unique_ptr<archive, ArchiveReadDeleter> a(archive_read_new());
    archive_read_support_filter_gzip(a.get());
    archive_read_support_filter_none(a.get());
    archive_read_support_format_tar(a.get());
    if (archive_read_open_filename(a.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK)
        throw Error(archive_path.string() +
                    ": not a readable .tar.gz: " + archive_message(a.get()));
    int64_t unpacked = 0;
    size_t entries = 0;
    archive_entry *entry = nullptr;
    for (;;) {
        const int status = archive_read_next_header(a.get(), &entry);
        if (status == ARCHIVE_EOF)
            break;
        if (status < ARCHIVE_WARN)
            throw Error(archive_path.string() + ": " + archive_message(a.get()));
        if (++entries > kMaxEntries)
            throw Error(archive_path.string() + ": more than " + std::to_string(kMaxEntries) +
                        " entries");
        const char *raw = archive_entry_pathname(entry);
        const std::string path = safe_entry_path(raw);
        if (path.empty())
            throw Error(archive_path.string() + ": entry \"" + (raw ? raw : "") +
                        "\" is absolute or leaves the package (\"..\")");
        const fs::path target = dest / path;
        const mode_t type = archive_entry_filetype(entry);
        std::error_code ec;
        if (type == AE_IFDIR) {
            fs::create_directories(target, ec);
            if (ec)
                throw Error("cannot create " + target.string() + ": " + ec.message());
            continue;
        }
        if (type != AE_IFREG)
            throw Error(archive_path.string() + ": entry \"" + path +
                        "\" is a link or a special file; packages hold plain files only");
        fs::create_directories(target.parent_path(), ec);
        if (ec)
            throw Error("cannot create " + target.parent_path().string() + ": " + ec.message());
        const mode_t mode = (archive_entry_perm(entry) & 0111) ? 0755 : 0644;
        FileDescriptor fd(
            ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
        if (fd.get() < 0)
            throw Error("cannot create " + target.string() + ": " + std::strerror(errno) +
                        (errno == EEXIST ? " (listed twice in the archive?)" : ""));
        const void *block = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        for (;;) {
            const int r = archive_read_data_block(a.get(), &block, &size, &offset);
            if (r == ARCHIVE_EOF)
                break;
            if (r < ARCHIVE_WARN)
                throw Error(archive_path.string() + ": " + path + ": " + archive_message(a.get()));
            unpacked += static_cast<int64_t>(size);
            if (unpacked > kMaxUnpackedBytes)
                throw Error(archive_path.string() + ": unpacks to more than 16 GiB");
            if (::lseek(fd.get(), offset, SEEK_SET) < 0)
                throw Error("cannot seek in " + target.string());
            write_all(fd.get(), block, size, target);
        }
        if (::close(fd.release()) != 0)
            throw Error("cannot write " + target.string() + ": " + std::strerror(errno));
    }
}

} // namespace graft::host
