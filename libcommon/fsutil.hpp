#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>

// Files written so that a crash leaves the old or the new content, never a mix
// (write a temporary file beside the target, fsync, rename, fsync the directory), and
// private material created 0600 inside 0700 directories.

namespace cdm::fsutil {

// Create `dir` and missing parents; directories this creates get `mode` (0700 by default).
// An existing directory is left as it is. Throws Error(Exit::CantCreat) naming the path, or
// Error(Exit::NoPerm) when permission is denied.
void ensureDirectory(const std::string& dir, mode_t mode = 0700);

// Replace `path` with `content` atomically, the new file having `mode`. With `exclusive`,
// an existing `path` is an error (Exit::CantCreat) and is left untouched. The temporary
// file is removed on every failure. Throws Error(Exit::CantCreat) when the file cannot be
// made (Exit::NoPerm when permission is denied), Error(Exit::IoErr) when writing or syncing
// fails.
void writeFileAtomic(const std::string& path, std::string_view content, mode_t mode,
                     bool exclusive = false);

// The whole file, at most `cap` bytes. Throws Error(Exit::NoInput) when it cannot be
// opened, Error(Exit::DataErr) when it is larger than `cap`, Error(Exit::IoErr) on a read error.
std::string readFile(const std::string& path, std::size_t cap);

// Read the whole file into `buffer`, which is not reallocated (keys.cpp reads secrets this
// way, so that no copy is left behind in freed memory). Returns the number of bytes read.
// Throws like readFile(), with Exit::DataErr when the file is larger than `buffer`.
std::size_t readFileInto(const std::string& path, std::span<char> buffer);

// Is `filename` of the form cdm gives the files it stages under a state directory,
// "<YYYYmmddTHHMMSSZ>[-N].pem" (a UTC time stamp, a counter when two fall in one second)?
// Cleanup removes only names of this form.
bool isStampedPemName(std::string_view filename);

} // namespace cdm::fsutil
