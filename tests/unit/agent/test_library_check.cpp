// The check a test library passes before dlopen (issue 16): a real loads test
// library passes; shared objects that are not loads libraries, truncated and
// garbage files fail with a reason, without crashing and without running
// any of their code.
#include "loads/library_check.hpp"

#include <catch2/catch.hpp>

#include <elf.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

namespace fs = std::filesystem;
using loads::check_library_file;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct TempDir {
    fs::path dir;
    TempDir() {
        dir = fs::temp_directory_path() / ("loads-libcheck-" + std::to_string(::getpid()) + "-" +
                                           std::to_string(std::random_device{}()));
        fs::create_directories(dir);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    fs::path write(const std::string& name, const std::string& bytes) const {
        std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        return dir / name;
    }
    // Compiles C++ source into a shared object with this build's compiler;
    // the constructor, if any, would write a marker (it must never run).
    fs::path compile(const std::string& name, const std::string& source) const {
        auto src = write(name + ".cpp", source);
        auto out = dir / (name + ".so");
        std::string cmd = std::string(LOADS_CXX) + " -shared -fPIC -o " + out.string() + " " + src.string();
        REQUIRE(std::system(cmd.c_str()) == 0);
        return out;
    }
};

const std::string kCases = LOADS_TESTCASES_LIB;

}  // namespace

TEST_CASE("a loads test library from the build passes") {
    CHECK(check_library_file(kCases, "libtestcases.so") == "");
}

TEST_CASE("shared objects that are not loads test libraries fail, and none of their code runs") {
    TempDir t;
    const auto marker = t.dir / "constructor-ran";
    auto plain = t.compile("plain", "#include <cstdio>\n"
                                    "__attribute__((constructor)) static void boom() {\n"
                                    "  std::FILE* f = std::fopen(\"" + marker.string() + "\", \"w\");\n"
                                    "  if (f) std::fclose(f);\n}\n"
                                    "extern \"C\" int something_else() { return 1; }\n");
    CHECK(check_library_file(plain, "plain.so") ==
          "library plain.so is not a loads test library: it exports no loads_registry_v1");
    CHECK_FALSE(fs::exists(marker));

    // It names loads_registry_v1 but only uses it: undefined, not exported.
    auto user = t.compile("user", "extern \"C\" const void* loads_registry_v1();\n"
                                  "extern \"C\" const void* f() { return loads_registry_v1(); }\n");
    CHECK(check_library_file(user, "user.so").find("exports no loads_registry_v1") != std::string::npos);

    // A data object of that name is not the function the engine calls.
    auto data = t.compile("data", "extern \"C\" { __attribute__((visibility(\"default\"))) int loads_registry_v1 = 3; }\n");
    CHECK(check_library_file(data, "data.so").find("is not a function") != std::string::npos);

    // A hidden function is not exported.
    auto hidden = t.compile("hidden", "extern \"C\" __attribute__((visibility(\"hidden\"))) int loads_registry_v1() "
                                      "{ return 0; }\nextern \"C\" int g() { return loads_registry_v1(); }\n");
    CHECK(check_library_file(hidden, "hidden.so").find("exports no loads_registry_v1") != std::string::npos);

    // The system's zlib, when there is one.
    for (const char* z : {"/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1"})
        if (fs::exists(z)) CHECK(check_library_file(z, "libz.so.1").find("exports no loads_registry_v1") != std::string::npos);
}

TEST_CASE("files that are not shared objects fail with a reason") {
    TempDir t;
    CHECK(check_library_file((t.dir / "missing.so").string(), "missing.so").find("cannot read library missing.so") == 0);
    CHECK(check_library_file(t.write("empty.so", ""), "empty.so") ==
          "library empty.so is not a loads test library: it is empty");
    CHECK(check_library_file(t.write("text.so", "#!/bin/sh\necho hi\n"), "text.so").find("not an ELF file") !=
          std::string::npos);
    CHECK(check_library_file(t.dir.string(), "dir").find("not a regular file") != std::string::npos);

    const std::string real = slurp(kCases);
    REQUIRE(real.size() > sizeof(Elf64_Ehdr));
    std::string b32 = real;
    b32[EI_CLASS] = ELFCLASS32;
    CHECK(check_library_file(t.write("b32.so", b32), "b32.so").find("32-bit") != std::string::npos);
    std::string exec = real;
    Elf64_Half type = ET_EXEC;
    std::memcpy(&exec[offsetof(Elf64_Ehdr, e_type)], &type, sizeof type);
    CHECK(check_library_file(t.write("exec.so", exec), "exec.so").find("executable") != std::string::npos);
    std::string arm = real;
    Elf64_Half machine = EM_ARM;  // never this build's
    std::memcpy(&arm[offsetof(Elf64_Ehdr, e_machine)], &machine, sizeof machine);
    CHECK(check_library_file(t.write("arm.so", arm), "arm.so").find("another machine") != std::string::npos);
}

TEST_CASE("truncated and garbage files fail without crashing") {
    TempDir t;
    const std::string real = slurp(kCases);
    REQUIRE(real.size() > 4096);
    // Truncated anywhere: the section headers are at the end, so every cut fails.
    for (std::size_t cut : {std::size_t{1}, std::size_t{4}, std::size_t{16}, std::size_t{63}, std::size_t{64},
                            std::size_t{1000}, real.size() / 2, real.size() - 64, real.size() - 1}) {
        auto why = check_library_file(t.write("cut.so", real.substr(0, cut)), "cut.so");
        CAPTURE(cut, why);
        CHECK(why.rfind("library cut.so is not a loads test library: ", 0) == 0);
    }
    // Random bytes, with and without a valid-looking ELF header in front.
    std::mt19937 rng(16);
    for (int i = 0; i < 200; ++i) {
        std::string junk(1 + rng() % 8192, '\0');
        for (auto& c : junk) c = static_cast<char>(rng());
        if (i % 2) junk.replace(0, std::min(junk.size(), std::size_t{64}), real.substr(0, 64));
        CHECK_FALSE(check_library_file(t.write("junk.so", junk), "junk.so").empty());
    }
    // The real library with bytes of its headers and tables overwritten: an
    // answer either way, never a crash.
    for (int i = 0; i < 500; ++i) {
        std::string bad = real;
        for (int k = 0; k < 4; ++k) {
            const std::size_t at = rng() % 2 ? rng() % 64 : real.size() - 1 - rng() % std::min<std::size_t>(4096, real.size());
            bad[at] = static_cast<char>(rng());
        }
        (void)check_library_file(t.write("bad.so", bad), "bad.so");
    }
    // The real library is still fine after all that (nothing cached wrongly).
    CHECK(check_library_file(kCases, "libtestcases.so") == "");
}
