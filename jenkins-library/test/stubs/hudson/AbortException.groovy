package hudson

/** Stand-in for hudson.AbortException: a failure whose message is all there is to say (error, sh). */
class AbortException extends IOException {
    AbortException(String message) {
        super(message)
    }
}
