/// A part of the daemon with a life of its own: the sinks, the watch supervisor, the client
/// acceptor. `run` starts what the configuration asks for and returns once it runs; `stop`
/// ends it, waiting at most until `deadline` (monotonic seconds). The daemon runs them in
/// order and stops them in the reverse order.
protocol DaemonService: AnyObject {
    func run() throws
    func stop(deadline: Double)
}
