package cps

import org.codehaus.groovy.ast.ASTNode
import org.codehaus.groovy.ast.ClassCodeVisitorSupport
import org.codehaus.groovy.ast.ClassNode
import org.codehaus.groovy.ast.FieldNode
import org.codehaus.groovy.ast.MethodNode
import org.codehaus.groovy.ast.expr.BinaryExpression
import org.codehaus.groovy.ast.expr.ClosureExpression
import org.codehaus.groovy.ast.expr.ConstructorCallExpression
import org.codehaus.groovy.ast.expr.DeclarationExpression
import org.codehaus.groovy.ast.expr.MethodCallExpression
import org.codehaus.groovy.ast.expr.VariableExpression
import org.codehaus.groovy.ast.stmt.ForStatement
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases
import org.codehaus.groovy.control.SourceUnit

import java.lang.reflect.Modifier

/**
 * What Jenkins' CPS engine needs and cannot be checked here by running it:
 * the state of a running pipeline is serialised at every step, so
 *
 * - serializable: every class in src/ implements java.io.Serializable;
 * - field: no field holds a type that cannot be serialised (a Matcher, an
 *   iterator, a stream, JsonSlurper's LazyMap, a process, a thread);
 * - local: no local variable of such a type lives in CPS code, where it
 *   would be saved across the next step;
 * - noncps-needed: code that walks an iterator by hand, keeps a regex
 *   Matcher (=~), or passes a closure to a Groovy method the CPS engine
 *   does not translate (sort, toSorted, max, min, unique, groupBy, sum,
 *   inject, ...) is @NonCPS;
 * - noncps-step: a @NonCPS method calls no pipeline step or global
 *   variable (it would run outside the CPS engine);
 * - loop-step: a for-in loop in CPS code whose body calls a step walks a
 *   list by index instead, so no iterator is saved across the step;
 * - json-slurper: JsonSlurper is not used at all (its LazyMap is not
 *   serializable); readJSON(returnPojo: true) is;
 * - closure-private: a method a closure calls in a CPS class is not
 *   private (a conservative rule: CPS closures reach their owner's methods
 *   by dynamic dispatch).
 */
class CpsCheck {
    static final Set<String> NON_SERIALIZABLE = ['Matcher', 'Iterator', 'ListIterator', 'Enumeration', 'JsonSlurper', 'LazyMap',
                                                 'InputStream', 'OutputStream', 'Reader', 'Writer', 'BufferedReader', 'BufferedWriter',
                                                 'Process', 'Thread', 'Scanner', 'URLConnection', 'HttpURLConnection', 'Socket',
                                                 'Stream', 'ResultSet', 'Connection'] as Set
    static final Set<String> NON_CPS_CLOSURE_METHODS = ['sort', 'toSorted', 'max', 'min', 'unique', 'toUnique', 'groupBy', 'countBy',
                                                        'sum', 'inject', 'collectMany', 'findResults', 'takeWhile', 'dropWhile',
                                                        'withDefault', 'eachPermutation', 'split'] as Set
    static final Set<String> ITERATOR_CALLS = ['iterator', 'hasNext', 'next', 'listIterator'] as Set
    static final Set<String> STEPS = ['sh', 'bat', 'echo', 'error', 'input', 'lock', 'node', 'stage', 'withCredentials', 'withEnv',
                                      'readJSON', 'readFile', 'writeFile', 'fileExists', 'junit', 'unstable', 'catchError', 'libraryResource',
                                      'stash', 'unstash', 'archiveArtifacts', 'checkout', 'properties', 'timeout', 'sleep', 'dir',
                                      'retry', 'waitUntil', 'build', 'pipeline', 'script', 'parallel', 'warnError'] as Set

    /** findings are [file, line, rule, message] for every file given. */
    static List<Map> check(List<File> files, Set<String> globals = [] as Set) {
        List<Map> out = []
        for (File f in files) {
            CompilationUnit cu = new CompilationUnit()
            SourceUnit su = cu.addSource(f)
            cu.compile(Phases.CONVERSION)
            boolean isVar = f.parentFile.name == 'vars'
            for (ClassNode c in su.AST.classes) {
                new Visitor(f, su, c, isVar, STEPS + globals, out).checkClass()
            }
        }
        return out
    }

    static class Visitor extends ClassCodeVisitorSupport {
        final File file
        final SourceUnit su
        final ClassNode cls
        final boolean isVar
        final Set<String> steps
        final List<Map> out
        MethodNode method
        boolean nonCps
        int closures = 0
        Set<String> privateMethods = [] as Set

        Visitor(File file, SourceUnit su, ClassNode cls, boolean isVar, Set<String> steps, List<Map> out) {
            this.file = file
            this.su = su
            this.cls = cls
            this.isVar = isVar
            this.steps = steps
            this.out = out
        }

        protected SourceUnit getSourceUnit() {
            return su
        }

        void finding(ASTNode n, String rule, String message) {
            out << [file: file.name, line: n.lineNumber, rule: rule, message: "${cls.nameWithoutPackage}${method ? '.' + method.name : ''}: ${message}".toString()]
        }

        void checkClass() {
            if (!isVar && !cls.script && !cls.interfaces*.name.any { it in ['Serializable', 'java.io.Serializable'] }) {
                finding(cls, 'serializable', 'does not implement java.io.Serializable')
            }
            for (FieldNode f in cls.fields) {
                if (!Modifier.isStatic(f.modifiers) && !Modifier.isTransient(f.modifiers) && NON_SERIALIZABLE.contains(f.type.nameWithoutPackage)) {
                    finding(f, 'field', "field ${f.name} is a ${f.type.nameWithoutPackage}, which cannot be serialised")
                }
            }
            privateMethods = cls.methods.findAll { Modifier.isPrivate(it.modifiers) }*.name as Set
            for (MethodNode m in cls.methods) {
                method = m
                nonCps = m.annotations.any { it.classNode.nameWithoutPackage == 'NonCPS' }
                closures = 0
                m.code?.visit(this)
            }
            method = null
        }

        void visitClosureExpression(ClosureExpression e) {
            closures++
            super.visitClosureExpression(e)
            closures--
        }

        void visitMethodCallExpression(MethodCallExpression e) {
            String name = e.methodAsString
            boolean implicit = e.implicitThis || (e.objectExpression instanceof VariableExpression && ((VariableExpression) e.objectExpression).name in ['this', 'steps', 'script'])
            if (nonCps && implicit && steps.contains(name)) {
                finding(e, 'noncps-step', "@NonCPS code calls the pipeline step ${name}")
            }
            if (!nonCps && ITERATOR_CALLS.contains(name)) {
                finding(e, 'noncps-needed', "walks an iterator (${name}) in CPS code: move it into a @NonCPS method")
            }
            if (!nonCps && NON_CPS_CLOSURE_METHODS.contains(name) && e.arguments.any { it instanceof ClosureExpression || (it.hasProperty('expressions') && it.expressions.any { x -> x instanceof ClosureExpression }) }) {
                finding(e, 'noncps-needed', "passes a closure to ${name}, which the CPS engine does not translate: move it into a @NonCPS method")
            }
            if (!nonCps && closures > 0 && e.implicitThis && privateMethods.contains(name) && !isVar) {
                finding(e, 'closure-private', "a closure calls the private method ${name}")
            }
            super.visitMethodCallExpression(e)
        }

        void visitBinaryExpression(BinaryExpression e) {
            if (!nonCps && e.operation.text == '=~') {
                finding(e, 'noncps-needed', 'keeps a regex Matcher (=~) in CPS code: use ==~, or a @NonCPS method')
            }
            super.visitBinaryExpression(e)
        }

        void visitDeclarationExpression(DeclarationExpression e) {
            if (!nonCps && e.leftExpression instanceof VariableExpression) {
                String type = ((VariableExpression) e.leftExpression).originType.nameWithoutPackage
                if (NON_SERIALIZABLE.contains(type)) {
                    finding(e, 'local', "local variable ${((VariableExpression) e.leftExpression).name} is a ${type}, which is saved across the next step and cannot be serialised")
                }
            }
            super.visitDeclarationExpression(e)
        }

        void visitConstructorCallExpression(ConstructorCallExpression e) {
            if (e.type.nameWithoutPackage == 'JsonSlurper') {
                finding(e, 'json-slurper', 'uses JsonSlurper, whose LazyMap cannot be serialised: use readJSON(returnPojo: true)')
            }
            super.visitConstructorCallExpression(e)
        }

        void visitForLoop(ForStatement s) {
            if (!nonCps && s.variable != ForStatement.FOR_LOOP_DUMMY && callsStep(s.loopBlock)) {
                finding(s, 'loop-step', 'a for-in loop calls a pipeline step: loop over a list by index, so no iterator is saved across the step')
            }
            super.visitForLoop(s)
        }

        boolean callsStep(ASTNode body) {
            boolean found = false
            body.visit(new ClassCodeVisitorSupport() {
                protected SourceUnit getSourceUnit() { su }

                void visitMethodCallExpression(MethodCallExpression e) {
                    if (steps.contains(e.methodAsString)) {
                        found = true
                    }
                    super.visitMethodCallExpression(e)
                }
            })
            return found
        }
    }
}
