//! The role picker's "Command line" section: the `fedbroker` commands for this broker.

use super::broker;
use actix_web::test::TestRequest;

#[actix_web::test]
async fn role_picker_shows_the_command_lines_for_this_broker() {
    let b = broker();
    let browser = b.browser().await;
    let (status, _, page) = b
        .in_browser(&browser, TestRequest::get().uri("/roles"))
        .await;
    assert_eq!(status, 200);
    let page = page.as_str().unwrap();
    assert!(page.contains("Command line"), "{page}");
    assert!(page.contains("fedbroker login --broker http://127.0.0.1:8080 --device"));
    assert!(page.contains("fedbroker profiles --broker http://127.0.0.1:8080 --write"));
}
