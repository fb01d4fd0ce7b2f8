// RelayTestSupport.swift: the shared test support (Tests/RelayTestSupport: the redis-server
// and Redis Cluster launchers, free ports, child processes, waiting) for every file of this
// target, imported once here.
@_exported import RelayTestSupport
