import FWTraceCLI

FWTraceCommand.entry()
