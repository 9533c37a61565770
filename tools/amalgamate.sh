#!/bin/sh
# Writes the one-file segloss.h to stdout from the skeleton kernels/segloss.h, in the manner of
# SQLite's amalgamation: each line that starts `#include "part.h"` and names a file of kernels/
# is replaced by that file between begin/end banners the first time it is met (recursively, in
# place), and dropped after that (every part has an include guard: a second include adds
# nothing). An indented #include (the usage example in the header's comment) is left alone.
# System and SIMDe includes (<...>) and macro includes (SEGLOSS_HEADER_FILE) stay as they are.
#   usage: tools/amalgamate.sh [kernels-dir] > segloss.h
set -eu
dir=${1:-kernels}
exec awk -v dir="$dir" '
function inline(name,    path, line, inc) {
    path = dir "/" name
    if (name in done) return
    done[name] = 1
    if (name != "segloss.h") print "/* ---- begin kernels/" name " ---- */"
    while ((getline line < path) > 0) {
        if (line ~ /^#include "[^"]+"/) {
            inc = line
            sub(/^#include "/, "", inc)
            sub(/".*$/, "", inc)
            if ((getline probe < (dir "/" inc)) >= 0) {   # a part of kernels/
                close(dir "/" inc)
                inline(inc)
                continue
            }
        }
        print line
    }
    close(path)
    if (name != "segloss.h") print "/* ---- end kernels/" name " ---- */"
}
BEGIN { inline("segloss.h") }'
