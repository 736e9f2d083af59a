use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

fn respond(mut stream: TcpStream) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Drain headers until the blank line.
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => continue,
            Err(_) => return,
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    let (status, body) = match (method, path) {
        ("GET", "/health_check") => ("200 OK", "ok"),
        ("GET", "/api/hello") => ("200 OK", "hello"),
        _ => ("404 Not Found", "not found"),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

/// Very small "parser": returns the value of the first line whose trimmed
/// form starts with `key`.
fn config_value(config: &str, key: &str) -> Option<String> {
    config
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().trim_matches('"').to_string())
}

fn main() {
    let config = std::fs::read_to_string("configuration/base.yaml")
        .expect("failed to read configuration/base.yaml");
    let migrations: Vec<_> = std::fs::read_dir("migrations")
        .expect("failed to read migrations directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    println!("found {} migration(s): {:?}", migrations.len(), migrations);
    let host = config_value(&config, "host:").unwrap_or_else(|| "0.0.0.0".to_string());
    let port = config_value(&config, "port:").unwrap_or_else(|| "8000".to_string());
    let addr = format!("{host}:{port}");
    let listener = TcpListener::bind(&addr).expect("failed to bind");
    println!("listening on {addr}");
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                std::thread::spawn(move || respond(stream));
            }
            Err(e) => eprintln!("accept error: {e}"),
        }
    }
}
