// libbpf diagnostics: capture of libbpf's log (verifier output) and the
// translation of a libbpf errno into a message that says what to do.
#pragma once

#include <string>

namespace custody {

// Installs the libbpf print callback (once, at module load). Any thread.
void InstallLibbpfLog();

// Clears / returns the warnings libbpf printed since the last clear (last
// 16 KiB). Any thread; used by the main thread around open and load.
void ClearLibbpfLog();
std::string TakeLibbpfLog();

// "<step>: <libbpf text> (errno N). <what to do>" — err is a negative or
// positive errno as libbpf returns it.
std::string LibbpfErrorMessage(const std::string& step, int err);

}  // namespace custody
