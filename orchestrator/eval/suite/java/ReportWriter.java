package com.example.reports;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Writes the monthly usage report as CSV. */
public final class ReportWriter {
    public record Row(String customer, long requests, double gigabytes) {}

    private static String escape(String field) {
        if (field.contains(",") || field.contains("\"") || field.contains("\n")) {
            return "\"" + field.replace("\"", "\"\"") + "\"";
        }
        return field;
    }

    static String line(Row row) {
        return String.join(
                ",",
                escape(row.customer()),
                Long.toString(row.requests()),
                String.format("%.3f", row.gigabytes()));
    }

    /** Writes the rows under a header; throws if any row has negative usage. */
    public static void write(Path target, List<Row> rows) throws IOException {
        BufferedWriter out = Files.newBufferedWriter(target, StandardCharsets.UTF_8);
        out.write("customer,requests,gigabytes");
        out.newLine();
        for (Row row : rows) {
            if (row.requests() < 0 || row.gigabytes() < 0) {
                throw new IllegalArgumentException("negative usage for " + row.customer());
            }
            out.write(line(row));
            out.newLine();
        }
        out.close();
    }

    public static long totalRequests(List<Row> rows) {
        return rows.stream().mapToLong(Row::requests).sum();
    }
}
