#include "loads/library_check.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace loads {

namespace {

#if defined(__x86_64__)
constexpr unsigned kMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr unsigned kMachine = EM_AARCH64;
#elif defined(__riscv)
constexpr unsigned kMachine = EM_RISCV;
#elif defined(__powerpc64__)
constexpr unsigned kMachine = EM_PPC64;
#elif defined(__s390x__)
constexpr unsigned kMachine = EM_S390;
#else
#error "library_check.cpp: add this architecture's e_machine"
#endif
static_assert(sizeof(void*) == 8, "the ELF check reads ELF64 files");

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr unsigned char kData = ELFDATA2LSB;
#else
constexpr unsigned char kData = ELFDATA2MSB;
#endif

constexpr std::string_view kRegistrySymbol = "loads_registry_v1";

// A read-only mapping of the whole file; none of it is executed.
struct Mapped {
    const unsigned char* data = nullptr;
    std::uint64_t size = 0;
    ~Mapped() {
        if (data) ::munmap(const_cast<unsigned char*>(data), size);
    }
};

// [off, off + len) lies inside a file of `size` bytes (no overflow).
bool inside(std::uint64_t off, std::uint64_t len, std::uint64_t size) { return off <= size && len <= size - off; }

template <class T>
T read_at(const Mapped& m, std::uint64_t off) {
    T v;
    std::memcpy(&v, m.data + off, sizeof v);  // no alignment assumed
    return v;
}

std::string why_not(const Mapped& m) {
    if (m.size < EI_NIDENT || std::memcmp(m.data, ELFMAG, SELFMAG) != 0) return "it is not an ELF file";
    if (m.data[EI_CLASS] != ELFCLASS64) return "it is a 32-bit ELF file; this build takes 64-bit ones";
    if (m.data[EI_DATA] != kData) return "it is built for the other byte order";
    if (m.size < sizeof(Elf64_Ehdr)) return "it is truncated (shorter than an ELF header)";
    const auto eh = read_at<Elf64_Ehdr>(m, 0);
    if (eh.e_type != ET_DYN)
        return eh.e_type == ET_EXEC ? "it is an executable, not a shared object"
                                    : "it is not a shared object (ELF type " + std::to_string(eh.e_type) + ")";
    if (eh.e_machine != kMachine)
        return "it is built for another machine (ELF e_machine " + std::to_string(eh.e_machine) + ", this build " +
               std::to_string(kMachine) + ")";
    if (eh.e_shoff == 0) return "it has no section headers (stripped with sstrip?)";
    if (eh.e_shentsize != sizeof(Elf64_Shdr)) return "its section headers have an unexpected size";
    if (!inside(eh.e_shoff, sizeof(Elf64_Shdr), m.size)) return "it is truncated (section headers lie past its end)";
    std::uint64_t shnum = eh.e_shnum;
    if (shnum == 0) shnum = read_at<Elf64_Shdr>(m, eh.e_shoff).sh_size;  // extended numbering
    if (shnum > (m.size - eh.e_shoff) / sizeof(Elf64_Shdr))
        return "it is truncated (section headers lie past its end)";
    auto section = [&](std::uint64_t i) { return read_at<Elf64_Shdr>(m, eh.e_shoff + i * sizeof(Elf64_Shdr)); };

    bool any_dynsym = false;
    for (std::uint64_t i = 0; i < shnum; ++i) {
        const auto sh = section(i);
        if (sh.sh_type != SHT_DYNSYM) continue;
        any_dynsym = true;
        if (sh.sh_entsize != sizeof(Elf64_Sym) || !inside(sh.sh_offset, sh.sh_size, m.size))
            return "its dynamic symbol table is damaged or truncated";
        if (sh.sh_link == 0 || sh.sh_link >= shnum) return "its dynamic symbol table has no string table";
        const auto str = section(sh.sh_link);
        if (str.sh_type != SHT_STRTAB || !inside(str.sh_offset, str.sh_size, m.size))
            return "its dynamic string table is damaged or truncated";
        const char* strings = reinterpret_cast<const char*>(m.data + str.sh_offset);
        const std::uint64_t count = sh.sh_size / sizeof(Elf64_Sym);
        for (std::uint64_t k = 1; k < count; ++k) {
            const auto sym = read_at<Elf64_Sym>(m, sh.sh_offset + k * sizeof(Elf64_Sym));
            if (sym.st_name >= str.sh_size) continue;
            const std::uint64_t room = str.sh_size - sym.st_name;
            const char* name = strings + sym.st_name;
            const void* nul = std::memchr(name, '\0', room);
            if (!nul) continue;
            if (std::string_view(name, static_cast<const char*>(nul) - name) != kRegistrySymbol) continue;
            const unsigned bind = ELF64_ST_BIND(sym.st_info), type = ELF64_ST_TYPE(sym.st_info);
            if (sym.st_shndx == SHN_UNDEF) continue;  // a reference, not a definition
            if ((bind != STB_GLOBAL && bind != STB_WEAK) || ELF64_ST_VISIBILITY(sym.st_other) != STV_DEFAULT)
                continue;
            if (type != STT_FUNC) return "its loads_registry_v1 is not a function";
            return {};
        }
    }
    if (!any_dynsym) return "it has no dynamic symbol table";
    return "it exports no " + std::string(kRegistrySymbol);
}

}  // namespace

std::string check_library_file(const std::string& path, std::string_view name) {
    const std::string head = "library " + std::string(name) + " is not a loads test library: ";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "cannot read library " + std::string(name) + ": " + std::strerror(errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        return "cannot read library " + std::string(name) + ": " + std::strerror(e);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return head + "it is not a regular file";
    }
    if (st.st_size == 0) {
        ::close(fd);
        return head + "it is empty";
    }
    Mapped m;
    void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    const int e = errno;
    ::close(fd);
    if (p == MAP_FAILED) return "cannot read library " + std::string(name) + ": " + std::strerror(e);
    m.data = static_cast<const unsigned char*>(p);
    m.size = static_cast<std::uint64_t>(st.st_size);
    std::string why = why_not(m);
    return why.empty() ? std::string() : head + why;
}

}  // namespace loads
