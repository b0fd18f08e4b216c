#!/bin/sh
# Formats a man page with groff and fails on any warning (-ww) or error.
# usage: man-check.sh PAGE
set -eu
out=$(groff -t -man -Tutf8 -ww -z "$1" 2>&1)
if [ -n "$out" ]; then
    printf '%s\n' "$out"
    exit 1
fi
echo "$1: groff -ww reports nothing"
