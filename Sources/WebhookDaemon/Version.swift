/// The daemon's version, sent in `User-Agent: qr3-webhookd/<version>`.
public let qr3WebhookdVersion = "0.1.0"
