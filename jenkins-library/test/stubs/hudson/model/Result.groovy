package hudson.model

/** Stand-in for hudson.model.Result: build results, ordered from best to worst; a result only gets worse. */
class Result implements Serializable {
    static final Result SUCCESS = new Result('SUCCESS', 0)
    static final Result UNSTABLE = new Result('UNSTABLE', 1)
    static final Result FAILURE = new Result('FAILURE', 2)
    static final Result NOT_BUILT = new Result('NOT_BUILT', 3)
    static final Result ABORTED = new Result('ABORTED', 4)

    final String name
    final int ordinal

    private Result(String name, int ordinal) {
        this.name = name
        this.ordinal = ordinal
    }

    static Result fromString(String s) {
        for (Result r in [SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED]) {
            if (r.name.equalsIgnoreCase(s)) {
                return r
            }
        }
        return FAILURE
    }

    boolean isWorseThan(Result other) {
        return ordinal > other.ordinal
    }

    String toString() {
        return name
    }
}
