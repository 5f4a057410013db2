// Formatting for people: times in UTC (supervisors compare across sites),
// durations as precise as a person needs, upstream enums as words.
import { timestampMs, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";

export const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** A Timestamp as milliseconds since the epoch, or undefined when unset. */
export function ms(ts: Timestamp | undefined): number | undefined {
  return ts ? timestampMs(ts) : undefined;
}

/** "2023-05-22 04:55:05 UTC". */
export function dateTime(t: number | undefined): string {
  if (t === undefined) return "—";
  const d = new Date(t);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${clock(t)} UTC`;
}

/** "04:55:05" (UTC). */
export function clock(t: number): string {
  const d = new Date(t);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** "05-22 04:55" (UTC): a list column, where the year is noise. */
export function shortDateTime(t: number | undefined): string {
  if (t === undefined) return "—";
  const d = new Date(t);
  return `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

export function durationMs(d: Duration | undefined): number | undefined {
  return d ? Number(d.seconds) * 1000 + d.nanos / 1e6 : undefined;
}

/** "3.4 s", "34 min 9 s", "2 h 5 min". */
export function human(msValue: number | undefined): string {
  if (msValue === undefined || Number.isNaN(msValue)) return "—";
  if (msValue < 1000) return `${Math.round(msValue)} ms`;
  if (msValue < 60_000) return `${(msValue / 1000).toFixed(1)} s`;
  const s = Math.round(msValue / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** "+34:08" from the start of the conversation. */
export function offset(t: number, start: number | undefined): string {
  if (start === undefined) return "";
  const s = Math.max(0, Math.round((t - start) / 1000));
  return `+${Math.floor(s / 60)}:${pad(s % 60)}`;
}

/** "SYSTEM_DROP_OFF" -> "System drop-off". */
export function words(v: string): string {
  if (!v) return "—";
  const w = v.toLowerCase().replace(/_/g, " ").replace(/ off\b/g, "-off");
  return w.charAt(0).toUpperCase() + w.slice(1);
}

/** SmartAssist's channel ids ("source") as people call them. */
export const CHANNELS: Record<string, string> = {
  rtm: "Web chat",
  voice: "Voice",
  audiocodes: "Voice (AudioCodes)",
  email: "Email",
  msteams: "Microsoft Teams",
  whatsapp: "WhatsApp",
};

/** Channels whose conversations are calls, not chats. */
export const VOICE_CHANNELS = new Set(["voice", "audiocodes"]);

export const LANGUAGES: Record<string, string> = {
  en: "English",
  es: "Spanish",
  de: "German",
  fr: "French",
  ja: "Japanese",
};

/** The list filter's states, as SmartAssist's list endpoint enumerates them. */
export const STATUSES = ["ACTIVE", "CLOSED", "IDLE", "OPEN", "OVERDUE", "TERMINATED"];
