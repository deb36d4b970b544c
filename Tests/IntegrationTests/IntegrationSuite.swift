import Testing

/// Every integration suite is nested here and runs one test at a time: each starts real
/// processes (the gateway, redis-server) and real servers in this process, and on a
/// 2-core machine running them all at once would measure the machine, not the gateway.
@Suite(.serialized) enum IntegrationSuite {}
