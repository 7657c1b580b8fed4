import java.io.File;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.Map;
import org.jacoco.core.analysis.Analyzer;
import org.jacoco.core.analysis.CoverageBuilder;
import org.jacoco.core.data.ExecutionDataStore;
import org.jacoco.core.data.SessionInfoStore;
import org.jacoco.core.instr.Instrumenter;
import org.jacoco.core.runtime.IRuntime;
import org.jacoco.core.runtime.LoggerRuntime;
import org.jacoco.core.runtime.RuntimeData;
import org.jacoco.report.DirectorySourceFileLocator;
import org.jacoco.report.IReportVisitor;
import org.jacoco.report.xml.XMLFormatter;

/**
 * Runs CalcMain with Calc instrumented by JaCoCo's core API (as JaCoCo's CoreTutorial does:
 * this machine's Debian JaCoCo 0.8.6 has no java agent), then writes JaCoCo's XML report with
 * its XMLFormatter, as `jacoco:report` does.
 *
 * java JacocoRun <classes folder> <sources folder> <out.xml>
 */
public class JacocoRun {
    static class MemoryClassLoader extends ClassLoader {
        final Map<String, byte[]> definitions = new HashMap<>();

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            byte[] bytes = definitions.get(name);
            if (bytes != null) {
                return defineClass(name, bytes, 0, bytes.length);
            }
            return super.loadClass(name, resolve);
        }
    }

    public static void main(String[] args) throws Exception {
        File classes = new File(args[0]);
        IRuntime runtime = new LoggerRuntime();
        Instrumenter instrumenter = new Instrumenter(runtime);
        RuntimeData data = new RuntimeData();
        runtime.startup(data);
        MemoryClassLoader loader = new MemoryClassLoader();
        for (String name : new String[] {"Calc", "CalcMain"}) {
            byte[] original = Files.readAllBytes(new File(classes, name + ".class").toPath());
            loader.definitions.put(name, instrumenter.instrument(original, name));
        }
        loader.loadClass("CalcMain").getMethod("main", String[].class)
            .invoke(null, (Object) new String[0]);
        ExecutionDataStore executions = new ExecutionDataStore();
        SessionInfoStore sessions = new SessionInfoStore();
        data.collect(executions, sessions, false);
        runtime.shutdown();
        CoverageBuilder builder = new CoverageBuilder();
        new Analyzer(executions, builder).analyzeAll(classes);
        try (FileOutputStream out = new FileOutputStream(args[2])) {
            IReportVisitor visitor = new XMLFormatter().createVisitor(out);
            visitor.visitInfo(sessions.getInfos(), executions.getContents());
            visitor.visitBundle(builder.getBundle("calc"),
                new DirectorySourceFileLocator(new File(args[1]), "utf-8", 4));
            visitor.visitEnd();
        }
    }
}
