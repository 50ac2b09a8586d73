// The check a test library passes before anything dlopens it: it must be an
// ELF shared object for this machine (class, byte order, e_machine, ET_DYN)
// whose dynamic symbol table defines loads_registry_v1. Only the file's
// bytes are read (headers, .dynsym, .dynstr), bounds-checked against its
// size: none of its code runs, so a stranger's .so cannot run a constructor
// on an agent (docs/protocol.md, "Security").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace loads {

// "" when `path` looks like a loads test library; otherwise a sentence for
// the user: "library NAME is not a loads test library: it exports no
// loads_registry_v1". `name` is what the user knows the file by.
std::string check_library_file(const std::string& path, std::string_view name);

}  // namespace loads
