module libkvmhost.dev/kvmhost

go 1.19
