import nodemailer, { type Transporter } from "nodemailer";
import type { Logger } from "../logger.js";

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  /** "smtp" when the server accepted it, "log" when SMTP_URL is unset and it went to the log. */
  send(mail: Mail): Promise<{ delivered: "smtp" | "log" }>;
  close(): void;
}

/** SMTP answers that will not change on a retry (mailbox unknown, policy refusal): 5xx. */
export function isPermanentMailError(error: unknown): boolean {
  const code = (error as { responseCode?: unknown }).responseCode;
  return typeof code === "number" && code >= 500 && code < 600;
}

/**
 * Through SMTP_URL when set. Without it (a laptop, a first try) the message is printed to the worker's
 * log, as the dashboard does for invitations, so nobody is stuck waiting for a mail server.
 */
export function createMailer(options: { smtpUrl: string | undefined; from: string; logger: Logger; timeoutMs?: number; maxConnections?: number }): Mailer {
  let transport: Transporter | undefined;
  return {
    async send(mail) {
      // A table name may hold a line break (quoted identifiers): a header never does.
      const subject = mail.subject.replace(/[\r\n]+/g, " ").slice(0, 250);
      if (!options.smtpUrl) {
        options.logger.info(
          { to: mail.to, subject },
          ["", "──────── email (SMTP_URL is not set, so it is printed here) ────────", `To: ${mail.to}`, `Subject: ${subject}`, "", mail.text, "────"].join("\n"),
        );
        return { delivered: "log" };
      }
      const timeout = options.timeoutMs ?? 10_000;
      // Pooled: a burst of approvals reuses a few SMTP sessions instead of a handshake per message.
      transport ??= nodemailer.createTransport({
        pool: true,
        maxConnections: options.maxConnections ?? 4,
        url: options.smtpUrl,
        connectionTimeout: timeout,
        greetingTimeout: timeout,
        socketTimeout: timeout,
      });
      await transport.sendMail({ from: options.from, to: mail.to, subject, text: mail.text });
      return { delivered: "smtp" };
    },
    close() {
      transport?.close();
    },
  };
}
