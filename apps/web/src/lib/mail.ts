import nodemailer from "nodemailer";
import { env } from "./env";

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

/**
 * Sends through SMTP_URL when it is set. Without it (a laptop, a first try), the message is printed
 * to the server log so the link in it can still be followed: self-hosters are never stuck on email.
 */
export async function sendMail(mail: Mail): Promise<{ delivered: "smtp" | "log" }> {
  const { SMTP_URL, EMAIL_FROM } = env();
  if (!SMTP_URL) {
    console.log(
      [
        "",
        "──────── email (SMTP_URL is not set, so it is printed here) ────────",
        `To: ${mail.to}`,
        `Subject: ${mail.subject}`,
        "",
        mail.text,
        "────────────────────────────────────────────────────────────────────",
        "",
      ].join("\n"),
    );
    return { delivered: "log" };
  }
  const transport = nodemailer.createTransport(SMTP_URL);
  await transport.sendMail({ from: EMAIL_FROM, to: mail.to, subject: mail.subject, text: mail.text });
  return { delivered: "smtp" };
}
