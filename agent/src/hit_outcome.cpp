#include "hit_outcome.hpp"

#include "loads/loads.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <typeinfo>

namespace loads {
namespace {

std::string demangle(const char* name) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
    return status == 0 && out ? std::string(out.get()) : std::string(name);
}

std::string quoted(std::string_view s) {
    constexpr std::size_t kMax = 200;
    std::string out = "\"";
    out.append(s.substr(0, kMax));
    if (s.size() > kMax) out += "...";
    return out + '"';
}

}  // namespace

std::string HitOutcome::note() const {
    return (failure ? std::string("failure") : std::string(to_string(kind))) + ": " + message;
}

HitOutcome describe_current_exception() noexcept {
    HitOutcome o;
    try {
        try {
            throw;
        } catch (const Failure& f) {
            o.failure = true;
            o.message = f.what();
        } catch (const RequestError& e) {
            o.kind = e.kind;
            o.message = e.what();
        } catch (const std::exception& e) {
            // The dynamic type says more than what() alone ("vector::_M_range_check").
            o.message = demangle(typeid(e).name()) + ": " + e.what();
        } catch (const char* s) {
            o.message = "threw const char* " + (s ? quoted(s) : std::string("(null)"));
        } catch (const std::string& s) {
            o.message = "threw std::string " + quoted(s);
        } catch (std::string_view s) {
            o.message = "threw std::string_view " + quoted(s);
        } catch (int v) {
            o.message = "threw int " + std::to_string(v);
        } catch (long v) {
            o.message = "threw long " + std::to_string(v);
        } catch (unsigned v) {
            o.message = "threw unsigned " + std::to_string(v);
        } catch (unsigned long v) {
            o.message = "threw unsigned long " + std::to_string(v);
        } catch (double v) {
            o.message = "threw double " + std::to_string(v);
        } catch (...) {
            const std::type_info* t = abi::__cxa_current_exception_type();
            o.message = "threw " + (t ? demangle(t->name()) : std::string("an unknown type")) +
                        " (not derived from std::exception)";
        }
    } catch (...) {
        // Only a bad_alloc while building the message can get here.
        o.message = "an exception (out of memory while describing it)";
    }
    return o;
}

}  // namespace loads
